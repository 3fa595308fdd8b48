//! Balances: read your own, credit (service principals), and the ledger of every change.

use actix_web::{HttpResponse, web};
use chat_threads_application::billing::{Balance, CreditInput, LedgerEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::dto::PageDto;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Deps};

/// A balance, in the smallest unit of its currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDto {
    /// `user:<id>`, `anon:<id>`, `service:<id>` or `org:<id>`.
    pub account: String,
    /// ISO 4217 code of the amounts (billing.currency).
    pub currency: String,
    /// The balance; below zero only when replies cost more than they held.
    pub balance: i64,
    /// Held by replies still streaming.
    pub held: i64,
    /// What new replies may hold: balance minus held.
    pub available: i64,
    /// Last change; `null` for an account never credited.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl BalanceDto {
    fn new(b: Balance, currency: &str) -> Self {
        Self {
            currency: currency.to_owned(),
            available: b.available(),
            balance: b.amount,
            held: b.held,
            updated_at: b.updated_at,
            account: b.account,
        }
    }
}

/// One change of a balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryDto {
    pub id: uuid::Uuid,
    /// Position in this balance's ledger: 1, 2, 3 … in the order the entries committed, so
    /// each entry's `balance_after` is the previous one's plus its `amount`.
    pub seq: i64,
    pub account: String,
    /// `credit`, `reply` (a reply's cost), `summary` (a summary written for a reply),
    /// `completion` (an unstored OpenAI-compatible completion) or `title` (a thread's title
    /// written by a model).
    pub kind: String,
    /// Signed, smallest currency units: credits positive, debits negative.
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    /// The model paid for (debits).
    pub model: Option<String>,
    /// Prompt tokens paid for (debits).
    pub prompt_tokens: Option<i64>,
    /// Completion tokens paid for (debits).
    pub completion_tokens: Option<i64>,
    /// The thread (debits).
    pub thread_id: Option<uuid::Uuid>,
    /// The reply (debits).
    pub message_id: Option<uuid::Uuid>,
    /// The credit's note.
    pub note: Option<String>,
    /// Who credited (`service:<id>`).
    pub actor: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<LedgerEntry> for LedgerEntryDto {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id,
            seq: e.seq,
            account: e.account,
            kind: e.kind,
            amount: e.amount,
            balance_after: e.balance_after,
            model: e.model,
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            thread_id: e.thread_id.map(|t| t.as_uuid()),
            message_id: e.message_id.map(|m| m.as_uuid()),
            note: e.note,
            actor: e.actor,
            created_at: e.created_at,
        }
    }
}

/// A credit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// Smallest currency units to add, 1 to 10^12.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "crate::dto::required_whole_number")]
    pub amount: i64,
    /// Why (an invoice, a promotion); up to 500 characters.
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// A credit's ledger entry and the balance after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditDto {
    pub entry: LedgerEntryDto,
    pub balance: BalanceDto,
}

/// Path parameter of a balance.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// `me` (the account you pay from), or `user:<id>`, `anon:<id>`, `service:<id>`, `org:<id>`.
    #[param(pattern = r"^(me|(user|anon|service|org):[^\x00-\x1f\x7f-\x9f]{1,255})$")]
    pub account: String,
}

/// Ledger page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::dto::cursor")]
    pub cursor: Option<String>,
}

/// A balance: `me` is the one your replies are paid from (yours, or your organization's when
/// billing.payer is `org`). Every balance is kept in an organization (your token's): service
/// principals read the accounts of theirs; org admins its `org:<id>` account; anyone else only
/// its own.
#[utoipa::path(get, path = "/v1/balances/{account}", tag = "billing", operation_id = "get_balance", params(AccountPath),
    responses((status = 200, body = BalanceDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Billing is off on this server (forbidden)", body = ErrorBody),
              (status = 404, description = "Not an account you may read (balance_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<AccountPath>,
) -> Result<web::Json<BalanceDto>, ApiError> {
    let b = state.balances.balance(&auth.0, &path.account).await?;
    Ok(web::Json(BalanceDto::new(
        b,
        &state.balances.settings().currency,
    )))
}

/// Add to a balance (service principals). Recorded in the ledger with you as its actor. The
/// balance is the account's in your organization: an account id names one balance per
/// organization, and a principal spends the one of its token's organization, so a service
/// never reaches another organization's money or ledger.
#[utoipa::path(post, path = "/v1/balances/{account}/credits", tag = "billing", operation_id = "credit_balance", params(AccountPath),
    request_body = CreditBody,
    responses((status = 201, body = CreditDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Billing is off, or you are not a service principal (forbidden)", body = ErrorBody),
              (status = 404, description = "Another organization's `org:` account (balance_not_found)", body = ErrorBody),
              (status = 422, description = "The balance would exceed 10^15 (limit_exceeded)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn credit<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<AccountPath>,
    body: crate::extractors::Json<CreditBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (balance, entry) = state
        .balances
        .credit(
            &auth.0,
            &path.account,
            CreditInput {
                amount: body.amount,
                note: body.note,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(CreditDto {
        entry: entry.into(),
        balance: BalanceDto::new(balance, &state.balances.settings().currency),
    }))
}

/// A balance's ledger, newest first (by `seq`): credits, and the cost of every reply, summary
/// and unstored completion.
#[utoipa::path(get, path = "/v1/balances/{account}/ledger", tag = "billing", operation_id = "list_balance_ledger",
    params(AccountPath, LedgerQuery),
    responses((status = 200, body = PageDto<LedgerEntryDto>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "Billing is off on this server (forbidden)", body = ErrorBody),
              (status = 404, description = "Not an account you may read (balance_not_found)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn ledger<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<AccountPath>,
    query: web::Query<LedgerQuery>,
) -> Result<web::Json<PageDto<LedgerEntryDto>>, ApiError> {
    let q = query.into_inner();
    let page = state
        .balances
        .ledger(&auth.0, &path.account, q.cursor.as_deref(), q.limit)
        .await?;
    Ok(web::Json(page.into()))
}
