//! The admin API (`--admin-listen`): HTTP+JSON, described in `docs/admin-api.yaml`.
//!
//! - `GET /api/v1/sessions`, `DELETE /api/v1/sessions/{id}` (421 on its control
//!   connection, its transfer aborted) — from the [`registry`].
//! - `GET/POST /api/v1/users`, `PUT /api/v1/users/{name}/password`,
//!   `POST /api/v1/users/{name}/disable|enable` — edit the users file, then reload as SIGHUP
//!   does ([`crate::signals::reload`]).
//! - `POST /api/v1/reload` — what SIGHUP does.
//!
//! Every request needs `Authorization: Bearer <token>`, the token being the contents of
//! `<state-dir>/admin-token` (32 random bytes in hex, written 0600 on first start); it is
//! compared in constant time. Bodies are capped at 64 KiB, at most 16 connections are served
//! at once, each for at most 60 s. A loopback address is served in clear; any other only
//! over TLS, with the server's FTPS certificate.

pub mod client;
pub mod registry;

use crate::session::Shared;
use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Largest request body.
pub const MAX_BODY: usize = 64 * 1024;
const MAX_CONNECTIONS: usize = 16;
const CONNECTION_TIME: Duration = Duration::from_secs(60);

/// The admin socket and token, prepared before the runtime (and before privileges drop).
#[derive(Debug)]
pub struct Prepared {
    listener: std::net::TcpListener,
    token: String,
    tls: bool,
}

/// The token file in a state directory.
pub fn token_path(state_dir: &FsPath) -> PathBuf {
    state_dir.join("admin-token")
}

/// Reads the token, or creates it (32 random bytes, hex, mode 0600).
pub fn load_or_create_token(state_dir: &FsPath) -> anyhow::Result<String> {
    let path = token_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let t = t.trim().to_string();
            if t.len() < 32 {
                bail!(
                    "{}: admin token too short (delete the file to have a new one made)",
                    path.display()
                );
            }
            Ok(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore;
            let mut b = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let t: String = b.iter().map(|x| format!("{x:02x}")).collect();
            crate::auth::users::write_private(&path, format!("{t}\n").as_bytes())?;
            Ok(t)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Binds the admin socket and loads (or creates) the token; `None` without `--admin-listen`.
/// A non-loopback address needs TLS.
pub fn prepare(cfg: &crate::config::Config) -> anyhow::Result<Option<Prepared>> {
    let Some(addr) = cfg.admin_listen else {
        return Ok(None);
    };
    let tls = !addr.ip().is_loopback();
    if tls && !cfg.tls_enabled {
        bail!(
            "--admin-listen {addr} is not a loopback address: it is served only over TLS, \
             which --no-tls turns off (use 127.0.0.1:PORT, or enable TLS)"
        );
    }
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("binding admin API {addr}"))?;
    listener.set_nonblocking(true)?;
    let token = load_or_create_token(&cfg.state_dir)?;
    Ok(Some(Prepared {
        listener,
        token,
        tls,
    }))
}

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    token: Arc<str>,
}

/// Starts serving the admin API (inside the runtime).
pub fn start(shared: &Arc<Shared>, prepared: Option<Prepared>) -> anyhow::Result<()> {
    let Some(p) = prepared else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::from_std(p.listener)?;
    let addr = listener.local_addr()?;
    let acceptor = match (p.tls, &shared.tls) {
        (false, _) => None,
        (true, Some(t)) => Some(t.clone()),
        (true, None) => bail!("admin API on {addr} needs TLS, which is off"),
    };
    tracing::info!(addr = %addr, tls = p.tls, "admin API listening");
    let app = router(Api {
        shared: shared.clone(),
        token: p.token.into(),
    });
    tokio::spawn(serve(listener, app, acceptor));
    Ok(())
}

fn router(api: Api) -> Router {
    Router::new()
        .route("/api/v1/sessions", get(list_sessions))
        .route("/api/v1/sessions/{id}", delete(kick_session))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{name}/password", put(set_password))
        .route("/api/v1/users/{name}/disable", post(disable_user))
        .route("/api/v1/users/{name}/enable", post(enable_user))
        .route("/api/v1/reload", post(reload))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(api.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<kftp_tls::ServerTls>>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let busy = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "admin API accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = busy.clone().try_acquire_owned() else {
            continue; // Dropping the stream closes it.
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = async move {
                let service = TowerToHyperService::new(app);
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .keep_alive(false);
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    Some(t) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(t.config());
                        match acceptor.accept(stream).await {
                            Ok(s) => {
                                let _ = http.serve_connection(TokioIo::new(s), service).await;
                            }
                            Err(e) => {
                                tracing::debug!(peer = %peer, error = %e, "admin API TLS handshake failed")
                            }
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(CONNECTION_TIME, conn).await;
            drop(permit);
        });
    }
}

/// An error answered as `{"error": "..."}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn new(code: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(code, msg.into())
    }
    fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// Equal in time whatever the contents (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(api): State<Api>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), api.token.as_bytes()) => next.run(req).await,
        _ => {
            tracing::warn!("admin API: request without the right token");
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (see <state-dir>/admin-token)",
            )
            .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
            r
        }
    }
}

async fn list_sessions(State(api): State<Api>) -> Json<Vec<registry::SessionView>> {
    Json(api.shared.sessions.list())
}

async fn kick_session(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no session {id}"));
    let n: u64 = id.parse().map_err(|_| not_found())?;
    if !api.shared.sessions.kick(n) {
        return Err(not_found());
    }
    tracing::info!(session = n, "admin API: session ended");
    Ok(Json(json!({ "id": n, "ended": true })).into_response())
}

/// One account as the API shows it (never the hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    /// Login name.
    pub name: String,
    /// Root, if not the server's.
    pub root: Option<String>,
    /// Permissions granted.
    pub perms: Vec<String>,
    /// Logins refused.
    pub disabled: bool,
}

async fn list_users(State(api): State<Api>) -> Json<Vec<UserView>> {
    let users = api.shared.users();
    Json(
        users
            .iter()
            .map(|u| UserView {
                name: u.name.clone(),
                root: u.root.as_ref().map(|r| r.display().to_string()),
                perms: u.perms.names().into_iter().map(String::from).collect(),
                disabled: u.disabled,
            })
            .collect(),
    )
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// Runs a users-file edit and then the SIGHUP reload, off the reactor (Argon2id, file I/O).
async fn edit_and_reload(
    api: &Api,
    edit: impl FnOnce(&FsPath) -> Result<serde_json::Value, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let shared = api.shared.clone();
    tokio::task::spawn_blocking(move || {
        // One edit at a time: each reads, changes and rewrites the whole file.
        static EDITS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = EDITS.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = edit(&shared.config.users_file)?;
        let failed = crate::signals::reload(&shared);
        v["reload_failures"] = json!(failed);
        Ok(Json(v).into_response())
    })
    .await
    .map_err(ApiError::internal)?
}

fn known(api: &Api, name: &str) -> Result<(), ApiError> {
    let file = crate::auth::Users::load(&api.shared.config.users_file)
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    match file.get(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no user '{name}'"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    root: Option<String>,
    #[serde(default)]
    perms: Option<Vec<String>>,
}

async fn add_user(State(api): State<Api>, body: Bytes) -> Result<Response, ApiError> {
    let u: NewUser = parse_body(&body)?;
    if u.password.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty password"));
    }
    let root = match &u.root {
        None => None,
        Some(r) if crate::storage::Root::is_local(FsPath::new(r)) => Some(
            std::fs::canonicalize(r)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("root {r}: {e}")))?,
        ),
        Some(r) => {
            crate::storage::Root::parse(FsPath::new(r))
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            Some(PathBuf::from(r))
        }
    };
    let name = u.name.clone();
    let r = edit_and_reload(&api, move |path| {
        let existed = crate::auth::users::add_user(path, &u.name, &u.password, root, u.perms)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
        Ok(json!({ "name": u.name, "created": !existed }))
    })
    .await?;
    tracing::info!(user = %name, "admin API: user added or updated");
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p: NewPassword = parse_body(&body)?;
    if p.password.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty password"));
    }
    known(&api, &name)?;
    tracing::info!(user = %name, "admin API: password changed");
    edit_and_reload(&api, move |path| {
        crate::auth::users::set_password(path, &name, &p.password)
            .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        Ok(json!({ "name": name, "password_changed": true }))
    })
    .await
}

async fn set_disabled(api: Api, name: String, disabled: bool) -> Result<Response, ApiError> {
    known(&api, &name)?;
    tracing::info!(user = %name, disabled, "admin API: account flag changed");
    edit_and_reload(&api, move |path| {
        crate::auth::users::set_disabled(path, &name, disabled)
            .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        Ok(json!({ "name": name, "disabled": disabled }))
    })
    .await
}

async fn disable_user(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    set_disabled(api, name, true).await
}

async fn enable_user(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    set_disabled(api, name, false).await
}

async fn reload(State(api): State<Api>) -> Result<Response, ApiError> {
    tracing::info!("admin API: reload");
    edit_and_reload(&api, |_| Ok(json!({ "reloaded": true }))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_names_every_route() {
        let doc = include_str!("../../../../docs/admin-api.yaml");
        for path in [
            "/api/v1/sessions:",
            "/api/v1/sessions/{id}:",
            "/api/v1/users:",
            "/api/v1/users/{name}/password:",
            "/api/v1/users/{name}/disable:",
            "/api/v1/users/{name}/enable:",
            "/api/v1/reload:",
        ] {
            assert!(
                doc.contains(&format!("  {path}\n")),
                "{path} missing from docs/admin-api.yaml"
            );
        }
    }

    #[test]
    fn compare_and_token() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
        let dir = tempfile::tempdir().unwrap();
        let t = load_or_create_token(dir.path()).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), t);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(token_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
