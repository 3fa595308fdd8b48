//! Organizing threads: an owner's folders (a folder's system prompt and model are the defaults
//! of the threads filed in it) and tags (counts, rename, delete). Threads are filed, tagged and
//! pinned through [`crate::threads::ThreadService::update`].
//!
//! Deleting a folder keeps its threads (they leave the folder and lose what they inherited);
//! deleting a tag removes it from every thread that carries it; renaming a tag onto one a
//! thread already has merges the two.

mod ports;

pub use ports::{FolderCount, FolderPatch, FolderStore, TagCount};

use chat_threads_domain::{
    DomainError, Folder, FolderId, FolderName, Limits, ModelName, Principal, SystemPrompt, Tag,
};

use crate::error::AppError;
use crate::system::Clock;
use crate::threads::ModelPolicy;

/// Most folders one owner may have.
pub const MAX_FOLDERS: usize = 1_000;

/// Input to create a folder (raw).
#[derive(Debug, Clone, Default)]
pub struct CreateFolder {
    /// Unique per owner.
    pub name: String,
    /// Default system prompt of its threads.
    pub system_prompt: Option<String>,
    /// Default model of its threads.
    pub model: Option<String>,
}

/// Input to change a folder (raw); absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct UpdateFolder {
    /// New name.
    pub name: Option<String>,
    /// New system prompt; `Some(None)` clears it.
    pub system_prompt: Option<Option<String>>,
    /// New model; `Some(None)` clears it.
    pub model: Option<Option<String>>,
}

/// Folders and tags.
#[derive(Debug, Clone)]
pub struct OrganizeService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
    models: Option<std::sync::Arc<dyn ModelPolicy>>,
}

impl<S: FolderStore, C: Clock> OrganizeService<S, C> {
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
            models: None,
        }
    }

    /// Checks a folder's model against the catalog.
    pub fn with_models(mut self, models: impl ModelPolicy) -> Self {
        self.models = Some(std::sync::Arc::new(models));
        self
    }

    fn model(&self, who: &Principal, raw: &str) -> Result<ModelName, AppError> {
        let name = ModelName::parse(raw)?;
        if let Some(models) = &self.models {
            models.check(who, name.as_str())?;
        }
        Ok(name)
    }

    fn prompt(&self, raw: String) -> Result<SystemPrompt, AppError> {
        Ok(SystemPrompt::parse(raw, &self.limits)?)
    }

    /// Creates a folder.
    pub async fn create_folder(
        &self,
        who: &Principal,
        input: CreateFolder,
    ) -> Result<Folder, AppError> {
        let name = FolderName::parse(&input.name)?;
        let system_prompt = input.system_prompt.map(|p| self.prompt(p)).transpose()?;
        let model = input.model.map(|m| self.model(who, &m)).transpose()?;
        let owner = who.owner();
        let count = self.store.list_folders(&owner).await?.len();
        if count >= MAX_FOLDERS {
            return Err(DomainError::LimitExceeded {
                field: "folders",
                limit: MAX_FOLDERS,
                actual: count + 1,
            }
            .into());
        }
        let now = self.clock.now();
        self.store
            .insert_folder(Folder {
                id: FolderId::new(),
                owner,
                name,
                system_prompt,
                model,
                created_at: now,
                updated_at: now,
            })
            .await
    }

    /// The caller's folders by name, with their thread counts.
    pub async fn folders(&self, who: &Principal) -> Result<Vec<FolderCount>, AppError> {
        self.store.list_folders(&who.owner()).await
    }

    /// One of the caller's folders with its thread count.
    pub async fn folder(&self, who: &Principal, id: FolderId) -> Result<FolderCount, AppError> {
        let folder = self.store.get_folder(&who.owner(), id).await?;
        let thread_count = self
            .store
            .list_folders(&who.owner())
            .await?
            .into_iter()
            .find(|f| f.folder.id == id)
            .map_or(0, |f| f.thread_count);
        Ok(FolderCount {
            folder,
            thread_count,
        })
    }

    /// Renames a folder or changes its defaults (its threads inherit the new ones at once).
    pub async fn update_folder(
        &self,
        who: &Principal,
        id: FolderId,
        input: UpdateFolder,
    ) -> Result<Folder, AppError> {
        let patch = FolderPatch {
            name: input.name.as_deref().map(FolderName::parse).transpose()?,
            system_prompt: input
                .system_prompt
                .map(|p| p.map(|p| self.prompt(p)).transpose())
                .transpose()?,
            model: input
                .model
                .map(|m| m.as_deref().map(|m| self.model(who, m)).transpose())
                .transpose()?,
        };
        self.store
            .update_folder(&who.owner(), id, patch, self.clock.now())
            .await
    }

    /// Deletes a folder; its threads stay, out of any folder. How many it held.
    pub async fn delete_folder(&self, who: &Principal, id: FolderId) -> Result<u64, AppError> {
        self.store.delete_folder(&who.owner(), id).await
    }

    /// The caller's tags by name, with their thread counts.
    pub async fn tags(&self, who: &Principal) -> Result<Vec<TagCount>, AppError> {
        self.store.tag_counts(&who.owner()).await
    }

    /// Renames a tag on all the caller's threads; how many.
    pub async fn rename_tag(&self, who: &Principal, from: &str, to: &str) -> Result<u64, AppError> {
        // A name no tag can have is carried by no thread.
        let from = Tag::parse(from).map_err(|_| AppError::TagNotFound)?;
        let to = Tag::parse(to).map_err(|e| match e {
            DomainError::LimitExceeded { limit, actual, .. } => DomainError::LimitExceeded {
                field: "name",
                limit,
                actual,
            },
            _ => DomainError::invalid("name", "must be 1-64 characters without control characters"),
        })?;
        if from == to {
            return Ok(0);
        }
        self.store.rename_tag(&who.owner(), &from, &to).await
    }

    /// Removes a tag from all the caller's threads; how many.
    pub async fn delete_tag(&self, who: &Principal, tag: &str) -> Result<u64, AppError> {
        let tag = Tag::parse(tag).map_err(|_| AppError::TagNotFound)?;
        self.store.delete_tag(&who.owner(), &tag).await
    }
}
