//! Members of a thread: the owner lets other principals in as viewers or editors.

use actix_web::{HttpResponse, web};
use chat_threads_application::members::AddMember;
use chat_threads_domain::{Member, ThreadId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::dto::{PageDto, ThreadPath};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A member of a thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub thread_id: uuid::Uuid,
    /// The principal, written as a thread's owner is (`user:bob`, `service:crm`).
    pub principal: String,
    /// `viewer` (reads, follows live events) or `editor` (also writes messages and chats).
    pub role: String,
    /// When they were let in, or their role last changed.
    pub added_at: chrono::DateTime<chrono::Utc>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            thread_id: m.thread_id.as_uuid(),
            principal: m.principal.as_str().to_owned(),
            role: m.role.as_str().to_owned(),
            added_at: m.added_at,
        }
    }
}

/// A principal to let in, or whose role to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    /// `user:<subject>` or `service:<subject>` (the `sub` of their token), as a thread's
    /// `owner` is written.
    pub principal: String,
    /// `viewer` or `editor`.
    pub role: String,
}

/// Path parameters of a thread's member.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ThreadMemberPath {
    /// The thread id.
    pub thread_id: uuid::Uuid,
    /// The member, e.g. `user:bob`.
    #[param(max_length = 255)]
    pub principal: String,
}

/// Let a principal into your thread as a viewer or an editor, or change their role. Takes
/// effect at once; announced to the thread's subscribers as `member.added`.
#[utoipa::path(post, path = "/v1/threads/{thread_id}/members", tag = "members", operation_id = "add_member", params(ThreadPath),
    request_body = AddMemberBody,
    responses((status = 201, description = "Let in", body = MemberDto),
              (status = 200, description = "Already a member: the role is now the one given", body = MemberDto),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "A member's request: only the owner manages members (forbidden)", body = ErrorBody),
              (status = 404, description = "No such thread of yours", body = ErrorBody),
              (status = 422, description = "The owner themselves (inconsistent_request), or 1,000 members already (limit_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
    body: crate::extractors::Json<AddMemberBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (member, created) = state
        .members
        .add(
            &auth.0,
            path.thread(),
            AddMember {
                principal: body.principal,
                role: body.role,
            },
        )
        .await?;
    let dto = MemberDto::from(member);
    Ok(if created {
        HttpResponse::Created().json(dto)
    } else {
        HttpResponse::Ok().json(dto)
    })
}

/// The thread's members, oldest first: for its owner, its members and an org admin of its
/// organization.
#[utoipa::path(get, path = "/v1/threads/{thread_id}/members", tag = "members", operation_id = "list_members", params(ThreadPath),
    responses((status = 200, body = PageDto<MemberDto>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadPath>,
) -> Result<web::Json<PageDto<MemberDto>>, ApiError> {
    let members = state.members.list(&auth.0, path.thread()).await?;
    Ok(web::Json(PageDto::complete(members)))
}

/// Take a member out (the owner), or leave (a member naming themselves). Takes effect at once
/// on every instance: their next request finds no thread, and their open WebSocket
/// subscriptions to it end (`member.removed`).
#[utoipa::path(delete, path = "/v1/threads/{thread_id}/members/{principal}", tag = "members", operation_id = "remove_member", params(ThreadMemberPath),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody),
              (status = 403, description = "A member removing someone else (forbidden)", body = ErrorBody),
              (status = 404, description = "No such thread for you, or the principal is no member of it (member_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<ThreadMemberPath>,
) -> Result<HttpResponse, ApiError> {
    let thread = ThreadId::from_uuid(path.thread_id);
    state
        .members
        .remove(&auth.0, thread, &path.principal)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
