//! What organizing threads needs from storage: an owner's folders and tags.

use std::future::Future;

use chat_threads_domain::{
    Folder, FolderId, FolderName, ModelName, Owner, SystemPrompt, Tag, Timestamp,
};
use serde::Serialize;

use crate::error::AppError;

/// Changes to a folder; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FolderPatch {
    /// New name (unique per owner).
    pub name: Option<FolderName>,
    /// New or cleared system prompt.
    pub system_prompt: Option<Option<SystemPrompt>>,
    /// New or cleared model.
    pub model: Option<Option<ModelName>>,
}

/// A folder with how many of the owner's live, listed threads are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderCount {
    /// The folder.
    pub folder: Folder,
    /// Live threads in it (not deleted, not temporary).
    pub thread_count: i64,
}

/// A tag with how many of the owner's live, listed threads carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    /// The tag.
    pub name: Tag,
    /// Live threads carrying it (not deleted, not temporary).
    pub thread_count: i64,
}

/// Storage of folders and tags. Every method sees only the owner's own.
pub trait FolderStore: Clone + Send + Sync + 'static {
    /// Inserts a folder; a name the owner already uses is [`AppError::Conflict`].
    fn insert_folder(
        &self,
        folder: Folder,
    ) -> impl Future<Output = Result<Folder, AppError>> + Send;

    /// One of the owner's folders, or [`AppError::FolderNotFound`].
    fn get_folder(
        &self,
        owner: &Owner,
        id: FolderId,
    ) -> impl Future<Output = Result<Folder, AppError>> + Send;

    /// The owner's folders by name, with their thread counts.
    fn list_folders(
        &self,
        owner: &Owner,
    ) -> impl Future<Output = Result<Vec<FolderCount>, AppError>> + Send;

    /// Changes a folder ([`AppError::Conflict`] for a name in use).
    fn update_folder(
        &self,
        owner: &Owner,
        id: FolderId,
        patch: FolderPatch,
        now: Timestamp,
    ) -> impl Future<Output = Result<Folder, AppError>> + Send;

    /// Deletes a folder; its threads stay, out of any folder. How many threads it held.
    fn delete_folder(
        &self,
        owner: &Owner,
        id: FolderId,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;

    /// The owner's tags by name, with their thread counts.
    fn tag_counts(
        &self,
        owner: &Owner,
    ) -> impl Future<Output = Result<Vec<TagCount>, AppError>> + Send;

    /// Renames a tag on every thread of the owner that carries it (merging into `to` where a
    /// thread has both); how many threads. [`AppError::TagNotFound`] when none carries it.
    fn rename_tag(
        &self,
        owner: &Owner,
        from: &Tag,
        to: &Tag,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;

    /// Removes a tag from every thread of the owner that carries it (the threads stay); how
    /// many threads. [`AppError::TagNotFound`] when none carries it.
    fn delete_tag(
        &self,
        owner: &Owner,
        tag: &Tag,
    ) -> impl Future<Output = Result<u64, AppError>> + Send;
}
