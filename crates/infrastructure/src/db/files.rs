//! Files on both backends: metadata with the per-owner byte counter ([`FileStore`]), and the
//! bytes as numbered parts in `file_parts` ([`BlobStore`], the default storage: it needs nothing
//! else to run and is shared by every instance on one PostgreSQL database).

use chat_threads_application::AppError;
use chat_threads_application::files::{BlobStore, FileCursor, FileStore, StoredFile};
use chat_threads_domain::{FileId, Owner};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::conn::Conn;
use super::error::{DbError, corrupt};
use super::schema::{file_parts as p, file_usage as u, files as f};
use super::store::SqlStore;
use super::types::{DbTime, DbUuid};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = f)]
struct FileRow {
    id: DbUuid,
    owner: String,
    org_id: Option<String>,
    name: String,
    content_type: String,
    size: i64,
    sha256: String,
    parts: i32,
    created_at: DbTime,
}

impl TryFrom<FileRow> for StoredFile {
    type Error = DbError;
    fn try_from(r: FileRow) -> Result<Self, DbError> {
        Ok(StoredFile {
            id: FileId::from_uuid(r.id.0),
            owner: Owner::from_stored(r.owner),
            org_id: r.org_id,
            name: r.name,
            content_type: r.content_type,
            size: u64::try_from(r.size).map_err(|e| corrupt("file size", e))?,
            sha256: r.sha256,
            parts: u32::try_from(r.parts).map_err(|e| corrupt("file parts", e))?,
            created_at: r.created_at.0,
        })
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records the files a new message references (they are kept from garbage collection), inside
/// the caller's transaction. The files were checked to be the owner's.
pub(super) async fn reference_files(
    c: Conn<'_>,
    msg: &chat_threads_domain::Message,
) -> Result<(), DbError> {
    use super::schema::message_files as mf;
    if msg.attachments.is_empty() {
        return Ok(());
    }
    with_conn!(on c, |conn, _d| {
        for a in &msg.attachments {
            diesel::insert_into(mf::table)
                .values((
                    mf::message_id.eq(DbUuid(msg.id.as_uuid())),
                    mf::file_id.eq(DbUuid(a.file_id.as_uuid())),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
}

/// Deletes every file of an owner, with its parts and its byte counter, inside the caller's
/// transaction (a session's deletion or expiry); returns `(id, parts)` of each, for deleting
/// their objects when the bytes live in an object store.
pub(super) async fn delete_owner_files(
    c: Conn<'_>,
    owner: &str,
) -> Result<Vec<(DbUuid, i32)>, DbError> {
    with_conn!(on c, |conn, _d| {
        let gone: Vec<(DbUuid, i32)> = f::table
            .filter(f::owner.eq(owner))
            .select((f::id, f::parts))
            .load(conn)
            .await?;
        diesel::delete(
            p::table.filter(p::file_id.eq_any(f::table.filter(f::owner.eq(owner)).select(f::id))),
        )
        .execute(conn)
        .await?;
        diesel::delete(f::table.filter(f::owner.eq(owner)))
            .execute(conn)
            .await?;
        diesel::delete(u::table.filter(u::owner.eq(owner)))
            .execute(conn)
            .await?;
        Ok(gone)
    })
}

impl SqlStore {
    /// Deletes the objects of files whose records a transaction deleted (object storage only;
    /// database parts went with the transaction). A failure is logged: the bytes are orphaned,
    /// never reachable again.
    pub(super) async fn drop_objects(&self, files: Vec<(DbUuid, i32)>) {
        let Some(objects) = &self.objects else {
            return;
        };
        for (id, parts) in files {
            let id = FileId::from_uuid(id.0);
            if let Err(e) = objects.delete(id, u32::try_from(parts).unwrap_or(0)).await {
                tracing::warn!(error = %e, file_id = %id, "deleting a file's objects failed");
            }
        }
    }
}

impl FileStore for SqlStore {
    async fn insert_file(&self, file: StoredFile, quota: u64) -> Result<(), AppError> {
        let size = to_i64(file.size);
        let quota = to_i64(quota);
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::insert_into(u::table)
                .values((u::owner.eq(file.owner.as_str()), u::bytes.eq(0_i64)))
                .on_conflict(u::owner)
                .do_nothing()
                .execute(conn)
                .await?;
            // The conditional update takes the row lock: concurrent uploads of one owner are
            // counted one after the other and cannot pass the quota together.
            let grown: Option<i64> = diesel::update(
                u::table
                    .filter(u::owner.eq(file.owner.as_str()))
                    .filter((u::bytes + size).le(quota)),
            )
            .set(u::bytes.eq(u::bytes + size))
            .returning(u::bytes)
            .get_result(conn)
            .await
            .optional()?;
            if grown.is_none() {
                let used: i64 = u::table
                    .find(file.owner.as_str())
                    .select(u::bytes)
                    .first(conn)
                    .await?;
                return Err(DbError(AppError::StorageQuotaExceeded {
                    quota: u64::try_from(quota).unwrap_or(0),
                    used: u64::try_from(used).unwrap_or(0),
                    size: file.size,
                }));
            }
            diesel::insert_into(f::table)
                .values(FileRow {
                    id: DbUuid(file.id.as_uuid()),
                    owner: file.owner.as_str().to_owned(),
                    org_id: file.org_id.clone(),
                    name: file.name.clone(),
                    content_type: file.content_type.clone(),
                    size,
                    sha256: file.sha256.clone(),
                    parts: i32::try_from(file.parts).unwrap_or(i32::MAX),
                    created_at: DbTime(file.created_at),
                })
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn get_file(&self, owner: &Owner, id: FileId) -> Result<Option<StoredFile>, AppError> {
        let r: Result<Option<StoredFile>, DbError> = with_conn!(self, |conn, _d| {
            let row: Option<FileRow> = f::table
                .filter(f::id.eq(DbUuid(id.as_uuid())))
                .filter(f::owner.eq(owner.as_str()))
                .select(FileRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(StoredFile::try_from).transpose()
        });
        Ok(r?)
    }

    async fn list_files(
        &self,
        owner: &Owner,
        after: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<StoredFile>, AppError> {
        let r: Result<Vec<StoredFile>, DbError> = with_conn!(self, |conn, _d| {
            let mut query = f::table
                .filter(f::owner.eq(owner.as_str()))
                .select(FileRow::as_select())
                .order((f::created_at.desc(), f::id.desc()))
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(after) = &after {
                let at = DbTime(after.created_at);
                query = query.filter(
                    f::created_at.lt(at).or(f::created_at
                        .eq(at)
                        .and(f::id.lt(DbUuid(after.id.as_uuid())))),
                );
            }
            let rows: Vec<FileRow> = query.load(conn).await?;
            rows.into_iter().map(StoredFile::try_from).collect()
        });
        Ok(r?)
    }

    async fn delete_file(&self, owner: &Owner, id: FileId) -> Result<Option<StoredFile>, AppError> {
        let r: Result<Option<StoredFile>, DbError> = write_tx!(self, |conn, _d| {
            let row: Option<FileRow> = diesel::delete(
                f::table
                    .filter(f::id.eq(DbUuid(id.as_uuid())))
                    .filter(f::owner.eq(owner.as_str())),
            )
            .returning(FileRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if let Some(row) = &row {
                diesel::update(u::table.filter(u::owner.eq(owner.as_str())))
                    .set(u::bytes.eq(u::bytes - row.size))
                    .execute(conn)
                    .await?;
            }
            row.map(StoredFile::try_from).transpose()
        });
        Ok(r?)
    }

    async fn collect_garbage(
        &self,
        before: chat_threads_domain::Timestamp,
        limit: u32,
    ) -> Result<Vec<StoredFile>, AppError> {
        use super::schema::message_files as mf;
        use diesel::dsl::{exists, not};
        let r: Result<Vec<StoredFile>, DbError> = write_tx!(self, |conn, _d| {
            let rows: Vec<FileRow> = f::table
                .filter(f::created_at.lt(DbTime(before)))
                .filter(not(exists(mf::table.filter(mf::file_id.eq(f::id)))))
                .select(FileRow::as_select())
                .limit(i64::from(limit))
                .load(conn)
                .await?;
            for row in &rows {
                diesel::delete(f::table.filter(f::id.eq(row.id)))
                    .execute(conn)
                    .await?;
                diesel::update(u::table.filter(u::owner.eq(&row.owner)))
                    .set(u::bytes.eq(u::bytes - row.size))
                    .execute(conn)
                    .await?;
            }
            rows.into_iter().map(StoredFile::try_from).collect()
        });
        Ok(r?)
    }

    async fn used_bytes(&self, owner: &Owner) -> Result<u64, AppError> {
        let r: Result<i64, DbError> = with_conn!(self, |conn, _d| {
            let used: Option<i64> = u::table
                .find(owner.as_str())
                .select(u::bytes)
                .first(conn)
                .await
                .optional()?;
            Ok(used.unwrap_or(0))
        });
        Ok(u64::try_from(r?).unwrap_or(0))
    }
}

/// File bytes: in the object store when one is configured, else in `file_parts`.
impl BlobStore for SqlStore {
    async fn write_part(&self, id: FileId, part: u32, bytes: Vec<u8>) -> Result<(), AppError> {
        if let Some(objects) = &self.objects {
            return objects.write_part(id, part, bytes).await;
        }
        let part = i32::try_from(part).unwrap_or(i32::MAX);
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::insert_into(p::table)
                .values((
                    p::file_id.eq(DbUuid(id.as_uuid())),
                    p::part.eq(part),
                    p::data.eq(&bytes),
                ))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }

    async fn read_part(&self, id: FileId, part: u32) -> Result<Option<Vec<u8>>, AppError> {
        if let Some(objects) = &self.objects {
            return objects.read_part(id, part).await;
        }
        let part = i32::try_from(part).unwrap_or(i32::MAX);
        let r: Result<Option<Vec<u8>>, DbError> = with_conn!(self, |conn, _d| {
            let data: Option<Vec<u8>> = p::table
                .find((DbUuid(id.as_uuid()), part))
                .select(p::data)
                .first(conn)
                .await
                .optional()?;
            Ok(data)
        });
        Ok(r?)
    }

    async fn delete(&self, id: FileId, parts: u32) -> Result<(), AppError> {
        if let Some(objects) = &self.objects {
            return objects.delete(id, parts).await;
        }
        let r: Result<(), DbError> = write_tx!(self, |conn, _d| {
            diesel::delete(p::table.filter(p::file_id.eq(DbUuid(id.as_uuid()))))
                .execute(conn)
                .await?;
            Ok(())
        });
        Ok(r?)
    }
}
