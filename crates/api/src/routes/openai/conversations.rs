//! Conversations (`/openai/v1/conversations`) over threads: a conversation is a thread, its
//! items are the messages of its active path. Deleting a conversation soft-deletes the thread
//! (the native API can restore it); deleting an item tombstones its message (later items stay).

use actix_web::{HttpResponse, web};
use chat_threads_application::UpdateThread;
use chat_threads_application::messages::DeleteScope;
use chat_threads_application::replies::NewThread;
use chat_threads_domain::{Principal, Thread};
use serde_json::{Value, json};

use super::bad;
use super::bodies::{ConversationBody, ConversationUpdateBody, ItemsBody, read};
use super::items::{
    InputItem, ListQuery, append_items, conversation_id, find_item, input_items, items, items_of,
    list, metadata, page, parse_conversation, parse_item, path_messages,
};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::{AppState, Deps};

fn object(t: &Thread) -> Value {
    json!({
        "id": conversation_id(t.id),
        "object": "conversation",
        "created_at": t.created_at.timestamp(),
        "metadata": t.metadata.to_value(),
    })
}

async fn thread<D: Deps>(
    state: &AppState<D>,
    who: &Principal,
    id: &str,
) -> Result<Thread, ApiError> {
    Ok(state
        .threads
        .get(who, parse_conversation(id)?, false)
        .await?)
}

/// `POST /openai/v1/conversations`: a new thread with `metadata` and the initial `items`.
pub async fn create<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    body: crate::extractors::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: ConversationBody = read(body.into_inner(), "conversations.create")?;
    let metadata = metadata(body.metadata)?;
    let items = match body.items {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.is_empty() => Vec::new(),
        Some(v) => input_items(&state, &auth.0, &v, "items").await?,
    };
    // All or nothing: the thread and its items in one transaction.
    let (t, _) = state
        .replies
        .store_history(
            &auth.0,
            NewThread {
                metadata,
                ..Default::default()
            },
            items
                .iter()
                .map(InputItem::turn)
                .collect::<Result<_, _>>()?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(object(&t)))
}

/// `GET /openai/v1/conversations/{id}`.
pub async fn get<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let t = thread(&state, &auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(object(&t)))
}

/// `POST /openai/v1/conversations/{id}`: replaces its metadata.
pub async fn update<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
    body: crate::extractors::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: ConversationUpdateBody = read(body.into_inner(), "conversations.update")?;
    let metadata = metadata(Some(body.metadata))?.ok_or_else(|| bad("metadata", "is required"))?;
    let t = state
        .threads
        .update(
            &auth.0,
            parse_conversation(&id)?,
            UpdateThread {
                metadata: Some(metadata),
                ..Default::default()
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(object(&t)))
}

/// `DELETE /openai/v1/conversations/{id}`: soft-deletes the thread.
pub async fn delete<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .threads
        .delete(&auth.0, parse_conversation(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": id.as_str(), "object": "conversation.deleted", "deleted": true,
    })))
}

/// `GET /openai/v1/conversations/{id}/items`: the active path's messages, a page at a time.
pub async fn list_items<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = parse_conversation(&id)?;
    let messages = path_messages(&state, &auth.0, t).await?;
    let list = page(items_of(&messages), &query)?;
    Ok(HttpResponse::Ok().json(list))
}

/// `POST /openai/v1/conversations/{id}/items`: appends `items` at the active leaf, in order.
pub async fn create_items<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    id: web::Path<String>,
    body: crate::extractors::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: ItemsBody = read(body.into_inner(), "conversations.items.create")?;
    let t = thread(&state, &auth.0, &id).await?;
    let items = input_items(&state, &auth.0, &body.items, "items").await?;
    if matches!(&body.items, Value::String(_)) {
        return Err(bad("items", "must be a list of message items"));
    }
    let stored = append_items(&state, &auth.0, t.id, None, &items).await?;
    Ok(HttpResponse::Ok().json(list(items_of(&stored), false)))
}

/// `GET /openai/v1/conversations/{id}/items/{item_id}`.
pub async fn get_item<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (conv, item_id) = path.into_inner();
    let m = state
        .messages
        .get(&auth.0, parse_conversation(&conv)?, parse_item(&item_id)?.1)
        .await?;
    if m.is_tombstone() {
        return Err(ApiError::App(
            chat_threads_application::AppError::MessageNotFound,
        ));
    }
    // The item with this id among the message's items (its text, calls, results, reasoning).
    find_item(items(&m), &item_id)
        .map(|i| HttpResponse::Ok().json(i))
        .ok_or(ApiError::App(
            chat_threads_application::AppError::MessageNotFound,
        ))
}

/// `DELETE /openai/v1/conversations/{id}/items/{item_id}`: tombstones the message (the items
/// after it stay); answers with the conversation.
pub async fn delete_item<D: Deps>(
    auth: Auth,
    state: web::Data<AppState<D>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (conv, item_id) = path.into_inner();
    let t = thread(&state, &auth.0, &conv).await?;
    state
        .messages
        .delete(&auth.0, t.id, parse_item(&item_id)?.1, DeleteScope::Message)
        .await?;
    Ok(HttpResponse::Ok().json(object(&t)))
}
