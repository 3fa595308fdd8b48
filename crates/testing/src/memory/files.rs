//! The in-memory store's files: metadata, the per-owner byte counter and the parts.

use std::collections::HashMap;

use chat_threads_application::AppError;
use chat_threads_application::files::{BlobStore, FileCursor, FileStore, StoredFile};
use chat_threads_domain::{FileId, Owner};

use super::MemoryStore;

#[derive(Debug, Default)]
pub(crate) struct Files {
    files: HashMap<FileId, StoredFile>,
    used: HashMap<String, u64>,
    parts: HashMap<(FileId, u32), Vec<u8>>,
}

impl Files {
    /// Drops every file of these owners, with their parts and counters.
    pub(crate) fn forget_owners(&mut self, owners: &[String]) {
        let gone: Vec<(FileId, u32)> = self
            .files
            .values()
            .filter(|f| owners.iter().any(|o| o == f.owner.as_str()))
            .map(|f| (f.id, f.parts))
            .collect();
        for (id, parts) in gone {
            self.files.remove(&id);
            for part in 0..parts {
                self.parts.remove(&(id, part));
            }
        }
        for o in owners {
            self.used.remove(o);
        }
    }
}

impl FileStore for MemoryStore {
    async fn insert_file(&self, file: StoredFile, quota: u64) -> Result<(), AppError> {
        let mut s = self.lock()?;
        let used = s.files.used.get(file.owner.as_str()).copied().unwrap_or(0);
        if used + file.size > quota {
            return Err(AppError::StorageQuotaExceeded {
                quota,
                used,
                size: file.size,
            });
        }
        s.files
            .used
            .insert(file.owner.as_str().to_owned(), used + file.size);
        s.files.files.insert(file.id, file);
        Ok(())
    }

    async fn get_file(&self, owner: &Owner, id: FileId) -> Result<Option<StoredFile>, AppError> {
        let s = self.lock()?;
        Ok(s.files
            .files
            .get(&id)
            .filter(|f| f.owner == *owner)
            .cloned())
    }

    async fn list_files(
        &self,
        owner: &Owner,
        after: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<StoredFile>, AppError> {
        let s = self.lock()?;
        let mut rows: Vec<StoredFile> = s
            .files
            .files
            .values()
            .filter(|f| f.owner == *owner)
            .filter(|f| {
                after
                    .as_ref()
                    .is_none_or(|a| (f.created_at, f.id) < (a.created_at, a.id))
            })
            .cloned()
            .collect();
        rows.sort_by_key(|f| std::cmp::Reverse((f.created_at, f.id)));
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn delete_file(&self, owner: &Owner, id: FileId) -> Result<Option<StoredFile>, AppError> {
        let mut s = self.lock()?;
        if s.files.files.get(&id).is_none_or(|f| f.owner != *owner) {
            return Ok(None);
        }
        let file = s.files.files.remove(&id);
        if let Some(f) = &file
            && let Some(used) = s.files.used.get_mut(f.owner.as_str())
        {
            *used = used.saturating_sub(f.size);
        }
        Ok(file)
    }

    async fn collect_garbage(
        &self,
        before: chat_threads_domain::Timestamp,
        limit: u32,
    ) -> Result<Vec<StoredFile>, AppError> {
        let mut s = self.lock()?;
        let referenced: std::collections::HashSet<FileId> = s
            .messages
            .values()
            .flat_map(|m| m.attachments.iter().map(|a| a.file_id))
            .collect();
        let dead: Vec<FileId> = s
            .files
            .files
            .values()
            .filter(|f| f.created_at < before && !referenced.contains(&f.id))
            .map(|f| f.id)
            .take(limit as usize)
            .collect();
        let mut out = Vec::new();
        for id in dead {
            if let Some(f) = s.files.files.remove(&id) {
                if let Some(used) = s.files.used.get_mut(f.owner.as_str()) {
                    *used = used.saturating_sub(f.size);
                }
                out.push(f);
            }
        }
        Ok(out)
    }

    async fn used_bytes(&self, owner: &Owner) -> Result<u64, AppError> {
        let s = self.lock()?;
        Ok(s.files.used.get(owner.as_str()).copied().unwrap_or(0))
    }
}

impl BlobStore for MemoryStore {
    async fn write_part(&self, id: FileId, part: u32, bytes: Vec<u8>) -> Result<(), AppError> {
        self.lock()?.files.parts.insert((id, part), bytes);
        Ok(())
    }

    async fn read_part(&self, id: FileId, part: u32) -> Result<Option<Vec<u8>>, AppError> {
        Ok(self.lock()?.files.parts.get(&(id, part)).cloned())
    }

    async fn delete(&self, id: FileId, parts: u32) -> Result<(), AppError> {
        let mut s = self.lock()?;
        for part in 0..parts {
            s.files.parts.remove(&(id, part));
        }
        Ok(())
    }
}
