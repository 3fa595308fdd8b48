//! The one schema for both backends, in portable column types (see [`super::types`]).
//! Columns used only by the search indexes (`seq`, `*_tsv`) are left out on purpose.

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    threads (id) {
        id -> PUuid,
        owner -> Text,
        org_id -> Nullable<Text>,
        title -> Text,
        product -> Nullable<Text>,
        status -> Text,
        document_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        metadata -> PJson,
        system_prompt -> Nullable<Text>,
        model -> Nullable<Text>,
        active_leaf_id -> Nullable<PUuid>,
        forked_from_thread_id -> Nullable<PUuid>,
        forked_from_message_id -> Nullable<PUuid>,
        message_count -> BigInt,
        last_message_at -> Nullable<PTime>,
        created_at -> PTime,
        updated_at -> PTime,
        deleted_at -> Nullable<PTime>,
        expires_at -> Nullable<PTime>,
        folder_id -> Nullable<PUuid>,
        pinned -> Bool,
        temporary -> Bool,
        creator_email -> Nullable<Text>,
        tags -> PJson,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    messages (id) {
        id -> PUuid,
        thread_id -> PUuid,
        parent_id -> Nullable<PUuid>,
        depth -> Integer,
        role -> Text,
        content -> Text,
        content_type -> Text,
        display_text -> Nullable<Text>,
        status -> Text,
        model -> Nullable<Text>,
        prompt_tokens -> Nullable<Integer>,
        completion_tokens -> Nullable<Integer>,
        feedback_rating -> Nullable<Text>,
        feedback_text -> Nullable<Text>,
        reaction -> Nullable<Text>,
        metadata -> PJson,
        edited_at -> Nullable<PTime>,
        created_at -> PTime,
        updated_at -> PTime,
        deleted_at -> Nullable<PTime>,
        version -> Integer,
        tombstoned_at -> Nullable<PTime>,
        attachments -> PJson,
        parts -> PJson,
        author -> Nullable<Text>,
        author_name -> Nullable<Text>,
        erased_at -> Nullable<PTime>,
        queued_at -> Nullable<PTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    message_revisions (message_id, version) {
        message_id -> PUuid,
        version -> Integer,
        content -> Text,
        content_type -> Text,
        display_text -> Nullable<Text>,
        metadata -> PJson,
        written_at -> PTime,
        replaced_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    summaries (id) {
        id -> PUuid,
        thread_id -> PUuid,
        covers_message_id -> PUuid,
        text -> Text,
        model -> Nullable<Text>,
        created_at -> PTime,
    }
}

diesel::joinable!(messages -> threads (thread_id));
diesel::joinable!(summaries -> threads (thread_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    accounts (id) {
        id -> PUuid,
        email -> Text,
        password_hash -> Text,
        created_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    refresh_tokens (id) {
        id -> PUuid,
        account_id -> PUuid,
        family_id -> PUuid,
        token_hash -> Text,
        expires_at -> PTime,
        revoked_at -> Nullable<PTime>,
        created_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    sessions (id) {
        id -> Text,
        external_user_id -> Nullable<Text>,
        metadata -> PJson,
        created_at -> PTime,
        expires_at -> PTime,
        org_id -> Nullable<Text>,
        session_key -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// The thread list's order: a narrow table kept by trigger on PostgreSQL (so an append's
    /// update of its thread is HOT), a view over `threads` on SQLite (migration 000014).
    thread_activity (thread_id) {
        thread_id -> PUuid,
        owner -> Text,
        updated_at -> PTime,
        pinned -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// An owner's folders of threads.
    folders (id) {
        id -> PUuid,
        owner -> Text,
        name -> Text,
        system_prompt -> Nullable<Text>,
        model -> Nullable<Text>,
        created_at -> PTime,
        updated_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Each thread's tags, for filters and counts (the thread row holds them as read).
    thread_tags (thread_id, tag) {
        thread_id -> PUuid,
        owner -> Text,
        tag -> Text,
    }
}

diesel::joinable!(thread_activity -> threads (thread_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Share links of threads.
    shares (id) {
        id -> Text,
        thread_id -> PUuid,
        owner -> Text,
        org_id -> Nullable<Text>,
        mode -> Text,
        audience -> Text,
        leaf_id -> Nullable<PUuid>,
        display_name -> Nullable<Text>,
        title -> Text,
        snapshot -> Nullable<PJson>,
        created_at -> PTime,
        updated_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Members of threads and their roles.
    thread_members (thread_id, principal) {
        thread_id -> PUuid,
        principal -> Text,
        role -> Text,
        added_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// The audit log (append-only).
    audit_log (seq) {
        seq -> BigInt,
        at -> PTime,
        org_id -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        target -> Text,
        thread_id -> Nullable<PUuid>,
        request_id -> Nullable<Text>,
        details -> PJson,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Retention policies per organization and product ('' = the organization's default).
    retention_policies (org_id, product) {
        org_id -> Text,
        product -> Text,
        delete_inactive_days -> Nullable<Integer>,
        erase_deleted_days -> Nullable<Integer>,
        updated_at -> PTime,
        updated_by -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Legal holds: a thread, or a principal's threads in an organization.
    legal_holds (id) {
        id -> Text,
        org_id -> Text,
        thread_id -> Nullable<PUuid>,
        principal -> Nullable<Text>,
        reason -> Text,
        created_at -> PTime,
        created_by -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Erasure jobs.
    erasures (id) {
        id -> Text,
        principal -> Text,
        org_id -> Nullable<Text>,
        requested_by -> Text,
        status -> Text,
        counts -> PJson,
        created_at -> PTime,
        updated_at -> PTime,
        finished_at -> Nullable<PTime>,
    }
}

diesel::joinable!(thread_tags -> threads (thread_id));
diesel::joinable!(thread_members -> threads (thread_id));
diesel::joinable!(shares -> threads (thread_id));

diesel::allow_tables_to_appear_in_same_query!(
    threads,
    thread_activity,
    folders,
    thread_tags,
    shares,
    thread_members,
    messages,
    message_revisions,
    summaries,
    accounts,
    refresh_tokens,
    sessions,
    server_secrets,
    idempotency_keys
);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    idempotency_keys (owner, key) {
        owner -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> PTime,
        expires_at -> PTime,
    }
}

diesel::table! {
    usage_daily (owner, day) {
        owner -> Text,
        day -> Text,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
    }
}

diesel::table! {
    /// Token usage per owner, UTC day and model.
    usage_model_daily (owner, day, model) {
        owner -> Text,
        day -> Text,
        model -> Text,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Balances in the smallest currency unit.
    balances (account, org_id) {
        account -> Text,
        org_id -> Text,
        amount -> BigInt,
        created_at -> PTime,
        updated_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// What replies still streaming hold from balances.
    balance_holds (message_id) {
        message_id -> PUuid,
        account -> Text,
        amount -> BigInt,
        created_at -> PTime,
        org_id -> Text,
        instance -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Every credit and debit of a balance.
    balance_ledger (id) {
        id -> PUuid,
        account -> Text,
        kind -> Text,
        amount -> BigInt,
        balance_after -> BigInt,
        model -> Nullable<Text>,
        prompt_tokens -> Nullable<BigInt>,
        completion_tokens -> Nullable<BigInt>,
        thread_id -> Nullable<PUuid>,
        message_id -> Nullable<PUuid>,
        note -> Nullable<Text>,
        actor -> Nullable<Text>,
        created_at -> PTime,
        org_id -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Uploaded files' metadata.
    files (id) {
        id -> PUuid,
        owner -> Text,
        org_id -> Nullable<Text>,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        parts -> Integer,
        created_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Files' bytes stored in the database, in parts.
    file_parts (file_id, part) {
        file_id -> PUuid,
        part -> Integer,
        data -> Binary,
    }
}

diesel::table! {
    /// Bytes each owner's files take.
    file_usage (owner) {
        owner -> Text,
        bytes -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(files, file_parts, message_files);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Which messages reference which files (keeps files from garbage collection).
    message_files (message_id, file_id) {
        message_id -> PUuid,
        file_id -> PUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// The change feed.
    feed_events (seq) {
        seq -> BigInt,
        at -> PTime,
        thread_id -> PUuid,
        owner -> Text,
        org_id -> Nullable<Text>,
        product -> Nullable<Text>,
        kind -> Text,
        reply_id -> Nullable<PUuid>,
        data -> Text,
    }
}

diesel::table! {
    /// The highest change feed cursor retention removed.
    feed_floor (id) {
        id -> Integer,
        seq -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Webhooks.
    webhooks (id) {
        id -> PUuid,
        owner -> Nullable<Text>,
        org_id -> Nullable<Text>,
        url -> Text,
        events -> Text,
        secret -> Text,
        description -> Nullable<Text>,
        enabled -> Bool,
        failures -> Integer,
        disabled_reason -> Nullable<Text>,
        feed_cursor -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<PTime>,
        created_at -> PTime,
        updated_at -> PTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::sql::*;

    /// Deliveries of webhooks.
    webhook_deliveries (id) {
        id -> PUuid,
        webhook_id -> PUuid,
        seq -> BigInt,
        kind -> Text,
        thread_id -> PUuid,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> PTime,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> PTime,
        delivered_at -> Nullable<PTime>,
    }
}
