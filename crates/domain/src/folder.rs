//! Folders: an owner's named groups of threads. A folder's system prompt and model are the
//! defaults of the threads filed in it (a thread's own win).

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::FolderId;
use crate::values::{FolderName, ModelName, Owner, SystemPrompt};

/// A folder of threads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// Identity.
    pub id: FolderId,
    /// Whose folder (the owner of the threads filed in it).
    pub owner: Owner,
    /// Unique per owner.
    pub name: FolderName,
    /// The system prompt of its threads that set none.
    pub system_prompt: Option<SystemPrompt>,
    /// The model of its threads that set none.
    pub model: Option<ModelName>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
