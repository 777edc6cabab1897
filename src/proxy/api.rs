//! The Toxiproxy HTTP API over a [`Collection`]: the same routes, status codes and bodies.

use super::collection::{ApiError, Collection};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

/// The version `GET /version` reports.
pub const VERSION: &str = concat!("shakedown-", env!("CARGO_PKG_VERSION"));

/// The API's routes over `proxies`.
pub fn router(proxies: Arc<Collection>) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(delete),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .route("/version", get(version))
        .layer(middleware::from_fn(stop_browsers))
        .with_state(proxies)
}

/// Toxiproxy refuses browsers, so a web page cannot drive it (a CSRF guard).
async fn stop_browsers(req: Request, next: Next) -> Response {
    let browser = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"));
    if browser {
        return (StatusCode::FORBIDDEN, "User agent not allowed\n").into_response();
    }
    next.run(req).await
}

type S = State<Arc<Collection>>;

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"error": e.message, "status": e.status}),
    )
}

fn reply(r: Result<Value, ApiError>, ok: StatusCode) -> Response {
    match r {
        Ok(v) => json_response(ok, &v),
        Err(e) => error(&e),
    }
}

fn empty(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(&e),
    }
}

async fn reset(State(c): S) -> Response {
    empty(c.reset().await)
}

async fn list(State(c): S) -> Response {
    json_response(StatusCode::OK, &c.list().await)
}

async fn create(State(c): S, body: Bytes) -> Response {
    reply(c.create(&body).await, StatusCode::CREATED)
}

async fn populate(State(c): S, body: Bytes) -> Response {
    match c.populate(&body).await {
        Ok(v) => json_response(StatusCode::CREATED, &v),
        Err((e, made)) => json_response(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            // Toxiproxy lists what it made before the error (null when nothing).
            &json!({
                "error": e.message,
                "status": e.status,
                "proxies": if made.is_empty() { Value::Null } else { Value::Array(made) },
            }),
        ),
    }
}

async fn show(State(c): S, Path(proxy): Path<String>) -> Response {
    reply(c.get(&proxy).await, StatusCode::OK)
}

async fn update(State(c): S, Path(proxy): Path<String>, body: Bytes) -> Response {
    reply(c.update(&proxy, &body).await, StatusCode::OK)
}

async fn delete(State(c): S, Path(proxy): Path<String>) -> Response {
    empty(c.delete(&proxy).await)
}

async fn toxics(State(c): S, Path(proxy): Path<String>) -> Response {
    reply(c.toxics(&proxy).await, StatusCode::OK)
}

async fn add_toxic(State(c): S, Path(proxy): Path<String>, body: Bytes) -> Response {
    reply(c.add_toxic(&proxy, &body).await, StatusCode::OK)
}

async fn show_toxic(State(c): S, Path((proxy, toxic)): Path<(String, String)>) -> Response {
    reply(c.toxic(&proxy, &toxic).await, StatusCode::OK)
}

async fn update_toxic(
    State(c): S,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply(c.update_toxic(&proxy, &toxic, &body).await, StatusCode::OK)
}

async fn remove_toxic(State(c): S, Path((proxy, toxic)): Path<(String, String)>) -> Response {
    empty(c.remove_toxic(&proxy, &toxic).await)
}

async fn version() -> Response {
    let mut r = format!("{{\"version\": \"{VERSION}\"}}\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    r
}
