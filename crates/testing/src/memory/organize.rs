//! The in-memory store's folders and tags.

use chat_threads_application::AppError;
use chat_threads_application::organize::{FolderCount, FolderPatch, FolderStore, TagCount};
use chat_threads_domain::{Folder, FolderId, Owner, Tag, Timestamp};

use super::{MemoryStore, State};

impl State {
    /// Refuses with `FolderNotFound` unless the folder is the owner's.
    pub(super) fn own_folder(&self, owner: &Owner, id: FolderId) -> Result<&Folder, AppError> {
        self.folders
            .get(&id)
            .filter(|f| &f.owner == owner)
            .ok_or(AppError::FolderNotFound)
    }

    fn name_taken(&self, owner: &Owner, name: &str, except: Option<FolderId>) -> bool {
        self.folders
            .values()
            .any(|f| &f.owner == owner && f.name.as_str() == name && Some(f.id) != except)
    }

    /// The owner's live, listed threads.
    fn listed<'a>(
        &'a self,
        owner: &'a Owner,
    ) -> impl Iterator<Item = &'a chat_threads_domain::Thread> {
        self.threads
            .values()
            .filter(move |t| &t.owner == owner && !t.is_deleted() && !t.temporary)
    }
}

fn taken() -> AppError {
    AppError::Conflict("you already have a folder with this name".into())
}

impl FolderStore for MemoryStore {
    async fn insert_folder(&self, folder: Folder) -> Result<Folder, AppError> {
        let mut s = self.lock()?;
        if s.name_taken(&folder.owner, folder.name.as_str(), None) {
            return Err(taken());
        }
        s.folders.insert(folder.id, folder.clone());
        Ok(folder)
    }

    async fn get_folder(&self, owner: &Owner, id: FolderId) -> Result<Folder, AppError> {
        self.lock()?.own_folder(owner, id).cloned()
    }

    async fn list_folders(&self, owner: &Owner) -> Result<Vec<FolderCount>, AppError> {
        let s = self.lock()?;
        let mut v: Vec<FolderCount> = s
            .folders
            .values()
            .filter(|f| &f.owner == owner)
            .map(|f| FolderCount {
                folder: f.clone(),
                thread_count: s
                    .listed(owner)
                    .filter(|t| t.folder_id == Some(f.id))
                    .count() as i64,
            })
            .collect();
        v.sort_by(|a, b| {
            (a.folder.name.as_str(), a.folder.id).cmp(&(b.folder.name.as_str(), b.folder.id))
        });
        Ok(v)
    }

    async fn update_folder(
        &self,
        owner: &Owner,
        id: FolderId,
        patch: FolderPatch,
        now: Timestamp,
    ) -> Result<Folder, AppError> {
        let mut s = self.lock()?;
        s.own_folder(owner, id)?;
        if let Some(name) = &patch.name
            && s.name_taken(owner, name.as_str(), Some(id))
        {
            return Err(taken());
        }
        let f = s.folders.get_mut(&id).ok_or(AppError::FolderNotFound)?;
        if let Some(name) = patch.name {
            f.name = name;
        }
        if let Some(p) = patch.system_prompt {
            f.system_prompt = p;
        }
        if let Some(m) = patch.model {
            f.model = m;
        }
        f.updated_at = now;
        Ok(f.clone())
    }

    async fn delete_folder(&self, owner: &Owner, id: FolderId) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        s.own_folder(owner, id)?;
        s.folders.remove(&id);
        let mut n = 0;
        for t in s.threads.values_mut() {
            if &t.owner == owner && t.folder_id == Some(id) {
                t.folder_id = None;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn tag_counts(&self, owner: &Owner) -> Result<Vec<TagCount>, AppError> {
        let s = self.lock()?;
        let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
        for t in s.listed(owner) {
            for tag in &t.tags {
                *counts.entry(tag.as_str().to_owned()).or_default() += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|(name, thread_count)| TagCount {
                name: Tag::from_stored(name),
                thread_count,
            })
            .collect())
    }

    async fn rename_tag(&self, owner: &Owner, from: &Tag, to: &Tag) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let mut n = 0;
        for t in s.threads.values_mut().filter(|t| &t.owner == owner) {
            if t.tags.contains(from) {
                t.tags = Tag::renamed(std::mem::take(&mut t.tags), from, to);
                n += 1;
            }
        }
        if n == 0 {
            return Err(AppError::TagNotFound);
        }
        Ok(n)
    }

    async fn delete_tag(&self, owner: &Owner, tag: &Tag) -> Result<u64, AppError> {
        let mut s = self.lock()?;
        let mut n = 0;
        for t in s.threads.values_mut().filter(|t| &t.owner == owner) {
            if t.tags.contains(tag) {
                t.tags.retain(|x| x != tag);
                n += 1;
            }
        }
        if n == 0 {
            return Err(AppError::TagNotFound);
        }
        Ok(n)
    }
}
