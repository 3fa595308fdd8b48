//! Folders and tags on both backends. A thread's tags live twice, written together: as a JSON
//! array on its row (how they are read) and as `thread_tags` rows (how lists filter and count
//! them).

use chat_threads_application::AppError;
use chat_threads_application::organize::{FolderCount, FolderPatch, FolderStore, TagCount};
use chat_threads_domain::{
    Folder, FolderId, FolderName, ModelName, Owner, SystemPrompt, Tag, ThreadId, Timestamp,
};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::{AsConn, Conn};
use super::error::DbError;
use super::models::{tags_json, tags_of};
use super::schema::{folders, thread_tags, threads};
use super::store::SqlStore;
use super::types::{DbJson, DbTime, DbUuid};

/// Refuses with `FolderNotFound` unless `id` is one of `owner`'s folders.
pub(super) async fn own_folder(c: Conn<'_>, owner: &str, id: FolderId) -> Result<(), DbError> {
    with_conn!(on c, |conn, _d| {
        let found: Option<DbUuid> = folders::table
            .filter(folders::id.eq(DbUuid(id.as_uuid())))
            .filter(folders::owner.eq(owner))
            .select(folders::id)
            .first(conn)
            .await
            .optional()?;
        match found {
            Some(_) => Ok(()),
            None => Err(DbError(AppError::FolderNotFound)),
        }
    })
}

/// Replaces a thread's `thread_tags` rows with `tags` (the row's JSON is the caller's).
pub(super) async fn write_tags(
    c: Conn<'_>,
    thread: ThreadId,
    owner: &str,
    tags: &[Tag],
) -> Result<(), DbError> {
    with_conn!(on c, |conn, _d| {
        let thread = DbUuid(thread.as_uuid());
        diesel::delete(thread_tags::table.filter(thread_tags::thread_id.eq(thread)))
            .execute(conn)
            .await?;
        // One row at a time: SQLite has no batch insert here, and a thread has at most 32.
        for t in tags {
            diesel::insert_into(thread_tags::table)
                .values((
                    thread_tags::thread_id.eq(thread),
                    thread_tags::owner.eq(owner),
                    thread_tags::tag.eq(t.as_str()),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
}

/// A row of `folders`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = folders)]
struct FolderRow {
    id: DbUuid,
    owner: String,
    name: String,
    system_prompt: Option<String>,
    model: Option<String>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<FolderRow> for Folder {
    fn from(r: FolderRow) -> Self {
        Folder {
            id: FolderId::from_uuid(r.id.0),
            owner: Owner::from_stored(r.owner),
            name: FolderName::from_stored(r.name),
            system_prompt: r.system_prompt.map(SystemPrompt::from_stored),
            model: r.model.map(ModelName::from_stored),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = folders)]
struct FolderChanges {
    name: Option<String>,
    system_prompt: Option<Option<String>>,
    model: Option<Option<String>>,
    updated_at: DbTime,
}

/// A unique-name violation is the owner's name in use.
fn name_taken(e: DbError) -> DbError {
    match e.0 {
        AppError::Conflict(_) => DbError(AppError::Conflict(
            "you already have a folder with this name".into(),
        )),
        other => DbError(other),
    }
}

/// Threads of the owner that carry `tag`, with their tags.
async fn tagged_threads(
    c: Conn<'_>,
    owner: &str,
    tag: &str,
) -> Result<Vec<(DbUuid, DbJson)>, DbError> {
    with_conn!(on c, |conn, _d| {
        Ok(threads::table
            .filter(
                threads::id.eq_any(
                    thread_tags::table
                        .filter(thread_tags::owner.eq(owner))
                        .filter(thread_tags::tag.eq(tag))
                        .select(thread_tags::thread_id),
                ),
            )
            .select((threads::id, threads::tags))
            .load(conn)
            .await?)
    })
}

impl FolderStore for SqlStore {
    async fn insert_folder(&self, folder: Folder) -> Result<Folder, AppError> {
        let r: Result<Folder, DbError> = with_conn!(self, |conn, _d| {
            diesel::insert_into(folders::table)
                .values(FolderRow {
                    id: DbUuid(folder.id.as_uuid()),
                    owner: folder.owner.as_str().to_owned(),
                    name: folder.name.as_str().to_owned(),
                    system_prompt: folder.system_prompt.as_ref().map(|p| p.as_str().to_owned()),
                    model: folder.model.as_ref().map(|m| m.as_str().to_owned()),
                    created_at: DbTime(folder.created_at),
                    updated_at: DbTime(folder.updated_at),
                })
                .execute(conn)
                .await
                .map_err(|e| name_taken(e.into()))?;
            Ok(folder)
        });
        Ok(r?)
    }

    async fn get_folder(&self, owner: &Owner, id: FolderId) -> Result<Folder, AppError> {
        let r: Result<Folder, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<FolderRow> = folders::table
                .filter(folders::id.eq(DbUuid(id.as_uuid())))
                .filter(folders::owner.eq(owner.as_str()))
                .select(FolderRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Ok(row.ok_or(DbError(AppError::FolderNotFound))?.into())
        });
        Ok(r?)
    }

    async fn list_folders(&self, owner: &Owner) -> Result<Vec<FolderCount>, AppError> {
        let r: Result<Vec<FolderCount>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<FolderRow> = folders::table
                .filter(folders::owner.eq(owner.as_str()))
                .select(FolderRow::as_select())
                .order((folders::name.asc(), folders::id.asc()))
                .load(conn)
                .await?;
            let counts: Vec<(Option<DbUuid>, i64)> = threads::table
                .filter(threads::owner.eq(owner.as_str()))
                .filter(threads::folder_id.is_not_null())
                .filter(threads::deleted_at.is_null())
                .filter(threads::temporary.eq(false))
                .group_by(threads::folder_id)
                .select((threads::folder_id, diesel::dsl::count_star()))
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    let thread_count = counts
                        .iter()
                        .find(|(id, _)| id.as_ref().is_some_and(|id| id.0 == r.id.0))
                        .map_or(0, |(_, n)| *n);
                    FolderCount {
                        folder: r.into(),
                        thread_count,
                    }
                })
                .collect())
        });
        Ok(r?)
    }

    async fn update_folder(
        &self,
        owner: &Owner,
        id: FolderId,
        patch: FolderPatch,
        now: Timestamp,
    ) -> Result<Folder, AppError> {
        let changes = FolderChanges {
            name: patch.name.map(FolderName::into_inner),
            system_prompt: patch.system_prompt.map(|p| p.map(SystemPrompt::into_inner)),
            model: patch.model.map(|m| m.map(ModelName::into_inner)),
            updated_at: DbTime(now),
        };
        let r: Result<Folder, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<FolderRow> = diesel::update(
                folders::table
                    .filter(folders::id.eq(DbUuid(id.as_uuid())))
                    .filter(folders::owner.eq(owner.as_str())),
            )
            .set(&changes)
            .returning(FolderRow::as_returning())
            .get_result(conn)
            .await
            .optional()
            .map_err(|e| name_taken(e.into()))?;
            Ok(row.ok_or(DbError(AppError::FolderNotFound))?.into())
        });
        Ok(r?)
    }

    async fn delete_folder(&self, owner: &Owner, id: FolderId) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            own_folder(conn.any(), owner.as_str(), id).await?;
            let held = diesel::update(
                threads::table
                    .filter(threads::owner.eq(owner.as_str()))
                    .filter(threads::folder_id.eq(DbUuid(id.as_uuid()))),
            )
            .set(threads::folder_id.eq(None::<DbUuid>))
            .execute(conn)
            .await?;
            diesel::delete(folders::table.filter(folders::id.eq(DbUuid(id.as_uuid()))))
                .execute(conn)
                .await?;
            Ok(held as u64)
        });
        Ok(r?)
    }

    async fn tag_counts(&self, owner: &Owner) -> Result<Vec<TagCount>, AppError> {
        let r: Result<Vec<TagCount>, DbError> = with_conn!(self, |conn, _d| {
            let rows: Vec<(String, i64)> = thread_tags::table
                .inner_join(threads::table)
                .filter(thread_tags::owner.eq(owner.as_str()))
                .filter(threads::deleted_at.is_null())
                .filter(threads::temporary.eq(false))
                .group_by(thread_tags::tag)
                .select((thread_tags::tag, diesel::dsl::count_star()))
                .order(thread_tags::tag.asc())
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(name, thread_count)| TagCount {
                    name: Tag::from_stored(name),
                    thread_count,
                })
                .collect())
        });
        Ok(r?)
    }

    async fn rename_tag(&self, owner: &Owner, from: &Tag, to: &Tag) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let rows = tagged_threads(conn.any(), owner.as_str(), from.as_str()).await?;
            if rows.is_empty() {
                return Err(DbError(AppError::TagNotFound));
            }
            for (id, json) in &rows {
                let tags = Tag::renamed(tags_of(&json.0), from, to);
                diesel::update(threads::table.filter(threads::id.eq(*id)))
                    .set(threads::tags.eq(DbJson(tags_json(&tags))))
                    .execute(conn)
                    .await?;
                let thread = ThreadId::from_uuid(id.0);
                write_tags(conn.any(), thread, owner.as_str(), &tags).await?;
            }
            Ok(rows.len() as u64)
        });
        Ok(r?)
    }

    async fn delete_tag(&self, owner: &Owner, tag: &Tag) -> Result<u64, AppError> {
        let r: Result<u64, DbError> = write_tx!(self, |conn, _d| {
            let rows = tagged_threads(conn.any(), owner.as_str(), tag.as_str()).await?;
            if rows.is_empty() {
                return Err(DbError(AppError::TagNotFound));
            }
            for (id, json) in &rows {
                let tags: Vec<Tag> = tags_of(&json.0).into_iter().filter(|t| t != tag).collect();
                diesel::update(threads::table.filter(threads::id.eq(*id)))
                    .set(threads::tags.eq(DbJson(tags_json(&tags))))
                    .execute(conn)
                    .await?;
            }
            diesel::delete(
                thread_tags::table
                    .filter(thread_tags::owner.eq(owner.as_str()))
                    .filter(thread_tags::tag.eq(tag.as_str())),
            )
            .execute(conn)
            .await?;
            Ok(rows.len() as u64)
        });
        Ok(r?)
    }
}
