//! Identifier newtypes. Every id is a UUIDv7, so ids sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID (read from storage or a request).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a thread.
    ThreadId
);
uuid_id!(
    /// Identifies a message.
    MessageId
);
uuid_id!(
    /// Identifies a summary.
    SummaryId
);
uuid_id!(
    /// Identifies an uploaded file.
    FileId
);
uuid_id!(
    /// Identifies a folder of threads.
    FolderId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_ordered_by_creation() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "v7 ids must sort by creation time");
        assert!(
            a.to_string() < b.to_string(),
            "text form sorts like the binary form"
        );
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = ThreadId::new();
        let parsed: ThreadId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<ThreadId>().is_err());
    }
}
