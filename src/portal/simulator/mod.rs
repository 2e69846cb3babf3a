//! A stateful fake ArcGIS Online portal, served over real HTTP.
//!
//! Tests and the local demo point the real ArcGIS client at it, so the
//! client's wire format, token handling and error classification are
//! exercised end to end. It follows the portal fact sheet
//! (`arcgis-portal-api.md`, §10 is its checklist): routes under
//! `/sharing/rest/`, parameters from the query string or a form-encoded body,
//! lists as comma lists or JSON arrays, errors as HTTP 200 bodies
//! `{"error":{code,messageCode,message,details}}`, `notInvited` without a
//! reason, seats that stay consistent across invite, type changes and
//! removal, role × user type rules on every change, profile updates
//! (`community/users/<u>/update`) validated like the portal does.
//!
//! Group membership: `community/users/<u>` (and `portals/self.user`) list
//! the user's own `groups`, but the `portals/self/users` listing does not.
//! Whether ArcGIS Online's listing carries them is not established (fact
//! sheet mark \[I\]); the simulator takes the strict side, so clients must
//! read membership per group with `community/groups/<gid>/userList` (paged;
//! owner, admins and members; admins of the org, the owner and members may
//! read it, anyone else gets 403).
//!
//! It also hosts feature layers (a Survey123 form's records): `GET|POST
//! <any path>/FeatureServer/<n>/query` with `where` (`1=1` or one
//! `<field> = '<text>'`; global ids only in the stored `'{UPPER}'` form),
//! `outFields` and `f=json`, behind the same token checks, counters and
//! faults as the sharing API. Tests add and edit records with
//! [`PortalSimulator::put_feature`] and [`PortalSimulator::edit_feature`],
//! which set `Editor`/`EditDate` like editor tracking does.
//!
//! # Layout
//!
//! - this file: configuration, the in-process API ([`PortalSimulator`]:
//!   inspection, fault injection, clock-free controls) and the server
//!   lifecycle ([`spawn`], [`serve`], [`RunningSimulator`]);
//! - `state`: the organization and the portal's rules (no HTTP, no clock);
//! - `http`: routing, parameters, auth, faults, JSON, `/_sim/*` control
//!   routes;
//! - `layers`: hosted feature layers, their records and `query`.
//!
//! # Control routes (for other processes)
//!
//! `GET /_sim/state` (members, purchased/assigned seats, groups, request
//! counts, records per hosted layer), `POST /_sim/faults` (a JSON [`Fault`]), `DELETE /_sim/faults`,
//! `POST /_sim/expire-tokens`, `POST /_sim/purchased`
//! (`{"user_type":"viewerUT","count":5}`), `POST /_sim/sign-in`
//! (`{"username":"…","at_ms":…}`).
//!
//! # What it must not do
//!
//! It is a test double: never deployed, never calls a real portal, and shares
//! no code with the ArcGIS client (`arcgis.rs`/`wire.rs`) so the two check
//! each other against the fact sheet. Passwords are kept only as SHA-256
//! digests and, like tokens and query strings, never logged.

mod http;
mod layers;
mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::now_millis;
use crate::domain::UnixMillis;
use state::{Org, State};

/// A built-in account of the simulated portal (the administrator, or the one
/// non-administrator account used to test 403 answers).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAccount {
    /// Username (sign-in is case-sensitive).
    pub username: String,
    /// Password, checked by `generateToken`.
    pub password: String,
}

impl std::fmt::Debug for SimAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAccount")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A custom role of the organization, listed by `portals/self/roles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRole {
    /// 16-character role id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The base level the user JSON shows as `role` (`org_user`,
    /// `org_publisher` or `org_admin`); the id itself is shown as `roleId`.
    pub base_role: String,
    /// Whether members with the Viewer user type may hold it. The portal
    /// decides by the role's privileges (fact sheet §7: Viewer user types
    /// cannot take a role with create, share or edit privileges); here it is
    /// this flag: `false` refuses `viewerUT`, every other combination is
    /// accepted. Absent in JSON = `true`.
    #[serde(default = "yes")]
    pub viewer_compatible: bool,
}

fn yes() -> bool {
    true
}

impl SimRole {
    /// A custom role based on `org_user`, described by its name.
    pub fn new(id: &str, name: &str, viewer_compatible: bool) -> Self {
        SimRole {
            id: id.to_string(),
            name: name.to_string(),
            description: name.to_string(),
            base_role: "org_user".to_string(),
            viewer_compatible,
        }
    }
}

/// How `updateUserLicenseType` and `updateUserRole` report a refused change.
/// The real portal's behaviour is unknown (fact sheet §10.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalStyle {
    /// `{"results":[{"username":"u","status":false}]}` /
    /// `{"success":false}`; accepted changes in the same request still apply.
    #[default]
    StatusFalse,
    /// An HTTP 200 error object (code 400) and no change at all.
    ErrorObject,
}

/// Everything the simulated organization starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    /// Organization id (`portals/self.id`, `orgId` of members); `portals/<id>`
    /// is accepted as an alias of `portals/self`.
    pub org_id: String,
    /// Organization name.
    pub org_name: String,
    /// `urlKey` (the `<key>.maps.arcgis.com` part).
    pub url_key: String,
    /// The administrator account. Its tokens may do everything.
    pub admin: SimAccount,
    /// When set, the administrator is also an org member (role `org_admin`)
    /// holding a seat of this user type, as in a real organization: it is
    /// listed, counted in `assigned`, and visible in `community/users`.
    /// `None`: the account only signs in (its name still counts as taken).
    pub admin_user_type: Option<String>,
    /// An optional non-administrator account (a member with role `org_user`
    /// and user type `creatorUT`, holding a seat); its tokens get 403
    /// `GWM_0003` on administrative operations.
    pub non_admin: Option<SimAccount>,
    /// Longest token lifetime, whatever `generateToken` asks for (the org's
    /// `maxTokenExpirationMinutes`). Serialized as milliseconds.
    #[serde(with = "duration_ms")]
    pub token_max_lifetime: Duration,
    /// Seats purchased per user type id (`subscriptionInfo.userLicenseTypes`).
    pub purchased: BTreeMap<String, u64>,
    /// Group titles; each id is derived from org id and title (32 hex
    /// characters, stable across restarts). Owned by the administrator.
    pub groups: Vec<String>,
    /// Custom roles, listed with the pre-built Viewer and Data Editor roles.
    /// Compatibility of a custom role with a user type follows its
    /// [`SimRole::viewer_compatible`] flag only.
    pub custom_roles: Vec<SimRole>,
    /// Usernames that belong to accounts of other organizations: taken for
    /// `invite` and `checkUsernames`, invisible to `community/users`.
    pub taken_elsewhere: Vec<String>,
    /// How refused type or role changes are reported.
    pub refusal_style: RefusalStyle,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        let purchased = [
            ("creatorUT", 100),
            ("viewerUT", 1000),
            ("editorUT", 200),
            ("fieldWorkerUT", 100),
            ("GISProfessionalBasicUT", 5),
            ("GISProfessionalStdUT", 5),
            ("GISProfessionalAdvUT", 5),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
        SimulatorConfig {
            org_id: "SiMuLaTeDoRg0001".to_string(),
            org_name: "Simulated Organization".to_string(),
            url_key: "simorg".to_string(),
            admin: SimAccount {
                username: "sim_admin".to_string(),
                password: "sim-admin-pass1".to_string(),
            },
            admin_user_type: Some("creatorUT".to_string()),
            non_admin: None,
            token_max_lifetime: Duration::from_secs(60 * 60),
            purchased,
            groups: vec![
                "Field Crews".to_string(),
                "Water Partners".to_string(),
                "Training".to_string(),
            ],
            custom_roles: vec![SimRole {
                id: "fIeLdTeChRoLe001".to_string(),
                name: "Field Technician".to_string(),
                description: "Collects data in the field".to_string(),
                base_role: "org_user".to_string(),
                // Edits data, so not for Viewer user types.
                viewer_compatible: false,
            }],
            taken_elsewhere: vec!["jsmith_gis".to_string(), "taken_elsewhere".to_string()],
            refusal_style: RefusalStyle::StatusFalse,
        }
    }
}

/// Whether a member can sign in yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Created with a password (or a built-in account).
    Active,
    /// Invited by e-mail without a password: visible, holds its seat.
    Pending,
}

/// A member of the simulated organization, as the tests inspect it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMember {
    /// Username, exactly as created.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role id: `org_user`, `org_publisher`, `org_admin` or a role id.
    pub role: String,
    /// User type id.
    pub user_type: String,
    /// Ids of the groups the member belongs to.
    pub group_ids: Vec<String>,
    /// Active or pending.
    pub status: MemberStatus,
    /// Epoch ms of the last sign-in; `-1` = never.
    pub last_login: UnixMillis,
    /// Epoch ms of creation.
    pub created: UnixMillis,
    /// Display name (`fullName`); empty = "first last".
    #[serde(default)]
    pub full_name: String,
    /// Profile visibility (`access`): `public`, `org` or `private`.
    #[serde(default = "default_access")]
    pub access: String,
    /// Esri access (the user JSON's `userType`): `arcgisonly` or `both`.
    #[serde(default = "default_esri_access")]
    pub esri_access: String,
}

fn default_access() -> String {
    "org".to_string()
}

fn default_esri_access() -> String {
    "arcgisonly".to_string()
}

impl SimMember {
    /// An active member with this role and user type and the defaults of a
    /// new member: e-mail `<username>@example.com`, first name "Test", last
    /// name the username, no groups, access `org`, Esri access `arcgisonly`,
    /// never signed in, created at 0. Change fields with struct update
    /// syntax, then [`PortalSimulator::seed_member`] it.
    pub fn new(username: &str, role: &str, user_type: &str) -> Self {
        SimMember {
            username: username.to_string(),
            email: format!("{username}@example.com"),
            first_name: "Test".to_string(),
            last_name: username.to_string(),
            role: role.to_string(),
            user_type: user_type.to_string(),
            group_ids: Vec::new(),
            status: MemberStatus::Active,
            last_login: -1,
            created: 0,
            full_name: String::new(),
            access: default_access(),
            esri_access: default_esri_access(),
        }
    }
}

/// A scripted failure. Faults are checked in insertion order; the first one
/// whose `endpoint` matches the request applies.
///
/// JSON (for `POST /_sim/faults`):
/// `{"endpoint":"generateToken","kind":{"http_status":503},"times":2}`,
/// `{"kind":{"too_many_requests":{"retry_after_secs":1}}}`,
/// `{"kind":{"delay_ms":250}}`, `{"endpoint":"invite","kind":"not_invited"}`,
/// `{"endpoint":"portals/self/users","kind":"expire_tokens","times":1}`,
/// `{"kind":{"error_body":{"code":500,"message_code":null,"message":"Boom"}}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// A path suffix matched on whole segments, case-insensitively
    /// (`"invite"`, `"portals/self/users"`, `"generateToken"`,
    /// `"FeatureServer/0/query"`); `None` = any request the simulator
    /// serves (sharing API and hosted layers).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it hits; `None` = until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// What an injected fault does to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a plain-text body.
    HttpStatus(u16),
    /// HTTP 429 with a `Retry-After` header.
    TooManyRequests {
        /// Value of `Retry-After`, in seconds.
        retry_after_secs: u64,
    },
    /// Wait, then answer normally. Serialized as milliseconds.
    #[serde(rename = "delay_ms", with = "duration_ms")]
    Delay(Duration),
    /// HTTP 200 with this error object.
    ErrorBody {
        /// `error.code`.
        code: i64,
        /// `error.messageCode`, omitted when `None`.
        #[serde(default)]
        message_code: Option<String>,
        /// `error.message`.
        message: String,
    },
    /// `portals/self/invite` lists every invitation in `notInvited` and
    /// creates nobody. Only invite requests consume it.
    NotInvited,
    /// Every token issued so far stops working (as
    /// [`PortalSimulator::expire_tokens`]), then the request is handled as
    /// usual, so it answers 498: a token expiring in the middle of a run,
    /// e.g. between two pages of a listing.
    ExpireTokens,
}

/// `Duration` as integer milliseconds in JSON.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The simulated portal: shared state plus the fixed organization settings.
/// Cheap to clone (all clones share one state).
#[derive(Clone)]
pub struct PortalSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    org: Org,
    /// A std mutex, not tokio's: every operation is short and synchronous,
    /// and the lock is never held across an `.await`. One lock for the whole
    /// org is what makes 200 concurrent invites unable to oversell.
    state: Mutex<State>,
}

impl PortalSimulator {
    /// Builds the organization: seeded accounts, groups, seats, roles.
    pub fn new(config: SimulatorConfig) -> Self {
        let org = Org::from_config(&config);
        let state = State::new(&config, &org, now_millis());
        PortalSimulator {
            inner: Arc::new(Inner {
                org,
                state: Mutex::new(state),
            }),
        }
    }

    /// The axum router: `/sharing/rest/…` plus the `/_sim/*` control routes.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Serves this simulator (its state is shared, so a test can stop a
    /// server and start another on the same state) on `listener`, in a
    /// background task.
    pub fn start(&self, listener: TcpListener) -> std::io::Result<RunningSimulator> {
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let stop = async {
                // Err means the sender was dropped: stop as well.
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "portal simulator server stopped with an error");
            }
        });
        Ok(RunningSimulator {
            sim: self.clone(),
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The organization id.
    pub fn org_id(&self) -> &str {
        &self.inner.org.id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated
        // in a way that matters to a test double; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// All members, sorted by username.
    pub fn members(&self) -> Vec<SimMember> {
        self.lock().members.values().cloned().collect()
    }

    /// One member by exact username.
    pub fn member(&self, username: &str) -> Option<SimMember> {
        self.lock().members.get(username).cloned()
    }

    /// Seats of `user_type` held by members (pending ones included).
    pub fn assigned(&self, user_type: &str) -> u64 {
        self.lock().assigned(user_type)
    }

    /// Seats of `user_type` purchased.
    pub fn purchased(&self, user_type: &str) -> u64 {
        self.lock().purchased(user_type)
    }

    /// Changes the purchased seats of a user type (0 removes it from the
    /// subscription). Members already holding seats keep them.
    pub fn set_purchased(&self, user_type: &str, seats: u64) {
        self.lock().set_purchased(user_type, seats);
    }

    /// The id of the group with this title (case-insensitive exact match).
    pub fn group_id(&self, title: &str) -> Option<String> {
        self.lock()
            .groups
            .iter()
            .find(|g| g.title.eq_ignore_ascii_case(title))
            .map(|g| g.id.clone())
    }

    /// How many `/sharing/rest/` requests hit paths ending with `suffix`
    /// (whole segments, case-insensitive: `"generateToken"`, `"invite"`,
    /// `"community/users/jdoe_acme"`); `""` counts every request.
    pub fn request_count(&self, path_suffix: &str) -> u64 {
        self.lock().request_count(path_suffix)
    }

    /// Adds a fault (after those already injected).
    pub fn inject(&self, fault: Fault) {
        self.lock().inject(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Makes every token issued so far answer 498 (expiry mid-run). Tokens
    /// generated afterwards work.
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Records a sign-in of `username` at `at_ms` (`lastLogin`). Returns
    /// whether the member exists.
    pub fn sign_in(&self, username: &str, at_ms: UnixMillis) -> bool {
        match self.lock().members.get_mut(username) {
            Some(m) => {
                m.last_login = at_ms;
                true
            }
            None => false,
        }
    }

    /// Puts a member straight into the organization, bypassing the invite
    /// rules (an existing member before the test starts). It holds a seat of
    /// its type even beyond the purchased count. Returns `false`, changing
    /// nothing, when the username is already taken.
    pub fn seed_member(&self, member: SimMember) -> bool {
        self.lock().seed_member(member)
    }

    /// Adds a record to a hosted layer, as `editor` now: `layer` is the
    /// layer's URL or path (`<org id>/arcgis/rest/services/<service>/
    /// FeatureServer/<n>`; see [`RunningSimulator::layer_url`]). The layer
    /// sets `objectid`, `globalid`, `CreationDate`/`Creator` and
    /// `EditDate`/`Editor` (values given for them are ignored). Returns the
    /// new global id, `{UPPER-CASE GUID}` as ArcGIS stores it.
    pub fn put_feature(
        &self,
        layer: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        editor: &str,
    ) -> String {
        self.lock()
            .layers
            .put(&layers::layer_key(layer), attributes, editor, now_millis())
    }

    /// Changes fields of a record (found by global id, any case), as
    /// `editor` now: `Editor` and `EditDate` follow, as editor tracking
    /// does. `false` when there is no such record.
    pub fn edit_feature(
        &self,
        layer: &str,
        globalid: &str,
        changes: serde_json::Map<String, serde_json::Value>,
        editor: &str,
    ) -> bool {
        self.lock().layers.edit(
            &layers::layer_key(layer),
            globalid,
            changes,
            editor,
            now_millis(),
        )
    }

    /// One record of a hosted layer by global id (any case, braces
    /// optional).
    pub fn feature(
        &self,
        layer: &str,
        globalid: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.lock().layers.get(&layers::layer_key(layer), globalid)
    }

    /// Marks a username as taken by an account of another organization.
    pub fn take_username_elsewhere(&self, username: &str) {
        self.lock().taken_elsewhere.insert(username.to_lowercase());
    }

    /// The `GET /_sim/state` document: members, purchased and assigned seats
    /// per user type, groups, request counts and pending faults.
    pub fn state_json(&self) -> serde_json::Value {
        self.lock().snapshot_json(&self.inner.org)
    }
}

/// A simulator serving HTTP on a local port. Dereferences to the
/// [`PortalSimulator`]; the server stops on [`RunningSimulator::shutdown`] or
/// when this is dropped.
pub struct RunningSimulator {
    sim: PortalSimulator,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// The REST root the client is configured with, e.g.
    /// `http://127.0.0.1:PORT/sharing/rest`.
    pub fn base_url(&self) -> String {
        format!("http://{}/sharing/rest", self.addr)
    }

    /// `http://127.0.0.1:PORT` (control routes live under `/_sim/`).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of layer `index` of a hosted feature service, shaped like
    /// ArcGIS Online's: `http://127.0.0.1:PORT/<org id>/arcgis/rest/services/
    /// <service>/FeatureServer/<index>`.
    pub fn layer_url(&self, service: &str, index: u32) -> String {
        format!(
            "http://{}/{}/arcgis/rest/services/{service}/FeatureServer/{index}",
            self.addr,
            self.sim.org_id()
        )
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulator behind the server.
    pub fn sim(&self) -> &PortalSimulator {
        &self.sim
    }

    /// Stops accepting connections and waits until open ones are closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl std::ops::Deref for RunningSimulator {
    type Target = PortalSimulator;
    fn deref(&self) -> &PortalSimulator {
        &self.sim
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `127.0.0.1:0` (a free port).
pub async fn spawn(config: SimulatorConfig) -> std::io::Result<RunningSimulator> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    PortalSimulator::new(config).start(listener)
}

/// Serves a new simulator on `listener` until `shutdown` completes (for the
/// CLI's `simulate-portal` command).
pub async fn serve(
    config: SimulatorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sim = PortalSimulator::new(config);
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}
