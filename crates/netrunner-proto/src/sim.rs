//! [`SimBackend`]: an in-memory cluster that follows the control calls.
//!
//! No process is started and no socket opened: nodes are records with a name, a made-up
//! URI and node id, a health state and a pause flag. A node becomes healthy a
//! configurable delay after it starts (or restarts, or resumes), so WaitForHealthy and
//! status streams have something to wait for. Snapshots, subnets, chains, validators
//! and attached peers are kept as records too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::backend::{Backend, ClusterResult, RequestContext};
use crate::error::{ErrorCode, RpcError};
use crate::messages::{
    AddNodeRequest, AttachPeerResponse, ChainIdsResponse, LoadSnapshotRequest, RestartNodeRequest,
    SendOutboundMessageRequest, StartRequest, TransformElasticChainsResponse,
};
use crate::types::{
    AttachedPeerInfo, BlockchainSpec, ChainInfo, ChainSpec, ClusterInfo, ElasticChainSpec,
    NodeInfo, PermissionlessValidatorSpec, RemoveChainValidatorSpec,
};

/// How a [`SimBackend`] starts and behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Nodes of the network the backend starts with, and of a Start without a count.
    pub nodes: u32,
    /// Whether the network is running from the start.
    pub running: bool,
    /// How long a node takes to turn healthy after it starts, restarts or resumes.
    pub health_delay: Duration,
    /// The network id reported.
    pub network_id: u32,
    /// The data directory reported (nothing is written there).
    pub root_data_dir: String,
    /// The node binary reported when a call names none.
    pub exec_path: String,
    /// The pid Ping reports.
    pub pid: i32,
    /// How long WaitForHealthy waits before answering `deadline_exceeded` (the legacy
    /// server's limit is 3 minutes).
    pub wait_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 5,
            running: true,
            health_delay: Duration::from_millis(200),
            network_id: 1337,
            root_data_dir: "/tmp/netrunner-sim".to_owned(),
            exec_path: "/usr/local/bin/luxd".to_owned(),
            pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
            wait_timeout: Duration::from_secs(180),
        }
    }
}

impl SimConfig {
    /// Sets [`SimConfig::nodes`].
    pub fn with_nodes(mut self, nodes: u32) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets [`SimConfig::running`].
    pub fn with_running(mut self, running: bool) -> Self {
        self.running = running;
        self
    }

    /// Sets [`SimConfig::health_delay`].
    pub fn with_health_delay(mut self, delay: Duration) -> Self {
        self.health_delay = delay;
        self
    }

    /// Sets [`SimConfig::network_id`].
    pub fn with_network_id(mut self, id: u32) -> Self {
        self.network_id = id;
        self
    }

    /// Sets [`SimConfig::pid`].
    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = pid;
        self
    }

    /// Sets [`SimConfig::wait_timeout`].
    pub fn with_wait_timeout(mut self, t: Duration) -> Self {
        self.wait_timeout = t;
        self
    }
}

#[derive(Debug, Clone)]
struct SimNode {
    info: NodeInfo,
    ready_at: Instant,
}

#[derive(Debug, Clone, Default)]
struct Subnet {
    participants: BTreeSet<String>,
    elastic: Option<(String, String)>,
    validators: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    nodes: Vec<NodeInfo>,
    chains: Vec<ChainInfo>,
    subnets: BTreeMap<String, Subnet>,
    root_data_dir: String,
}

#[derive(Debug)]
struct State {
    running: bool,
    root_data_dir: String,
    nodes: BTreeMap<String, SimNode>,
    chains: Vec<ChainInfo>,
    subnets: BTreeMap<String, Subnet>,
    peers: BTreeMap<String, Vec<String>>,
    snapshots: BTreeMap<String, Snapshot>,
    messages_sent: u64,
    serial: u64,
    next_port: u32,
}

#[derive(Debug)]
struct Inner {
    config: SimConfig,
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

/// A simulated cluster, for tests, the `zap netrunner server` command and the demo.
/// Cheap to clone; clones share the cluster.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use netrunner_proto::{SimBackend, SimConfig};
/// use std::time::Duration;
///
/// let sim = SimBackend::new(SimConfig::default().with_nodes(2).with_health_delay(Duration::ZERO));
/// let info = sim.cluster_info().expect("running");
/// assert_eq!(info.node_names, ["node1", "node2"]);
/// assert!(info.healthy);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SimBackend {
    inner: Arc<Inner>,
}

impl Default for SimBackend {
    fn default() -> Self {
        Self::new(SimConfig::default())
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every change below is computed before it is applied, so a panic cannot leave a
    // half-applied change behind a poisoned lock.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_running() -> RpcError {
    RpcError::failed_precondition("the network is not running (Start it or LoadSnapshot)")
}

fn node_missing(name: &str) -> RpcError {
    RpcError::not_found(format!("node {name:?} does not exist"))
}

/// A short stable hex id (FNV-1a 64 of the parts).
fn short_id(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl State {
    fn next_serial(&mut self) -> String {
        self.serial += 1;
        self.serial.to_string()
    }

    fn new_node(&mut self, config: &SimConfig, name: &str, now: Instant) -> SimNode {
        let port = 9650 + 2 * self.next_port;
        self.next_port += 1;
        let serial = self.next_serial();
        SimNode {
            info: NodeInfo {
                name: name.to_owned(),
                exec_path: config.exec_path.clone(),
                uri: format!("http://127.0.0.1:{port}"),
                id: format!("NodeID-{}", short_id(&["node", name, &serial])),
                log_dir: format!("{}/{name}/logs", self.root_data_dir),
                db_dir: format!("{}/{name}/db", self.root_data_dir),
                config: b"{}".to_vec(),
                plugin_dir: String::new(),
                whitelisted_subnets: String::new(),
                paused: false,
            },
            ready_at: now + config.health_delay,
        }
    }

    fn healthy(&self, now: Instant) -> bool {
        self.running
            && !self.nodes.is_empty()
            && self
                .nodes
                .values()
                .all(|n| !n.info.paused && n.ready_at <= now)
    }

    fn info(&self, config: &SimConfig, now: Instant) -> ClusterInfo {
        ClusterInfo {
            node_names: self.nodes.keys().cloned().collect(),
            node_infos: self.nodes.values().map(|n| n.info.clone()).collect(),
            pid: config.pid,
            root_data_dir: self.root_data_dir.clone(),
            healthy: self.healthy(now),
            custom_chains: self.chains.clone(),
            subnets: self.subnets.keys().cloned().collect(),
            network_id: config.network_id,
        }
    }

    fn require_running(&self) -> Result<(), RpcError> {
        if self.running {
            Ok(())
        } else {
            Err(not_running())
        }
    }

    fn node_mut(&mut self, name: &str) -> Result<&mut SimNode, RpcError> {
        self.require_running()?;
        self.nodes.get_mut(name).ok_or_else(|| node_missing(name))
    }

    fn tear_down(&mut self) {
        self.running = false;
        self.nodes.clear();
        self.chains.clear();
        self.subnets.clear();
        self.peers.clear();
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            nodes: self.nodes.values().map(|n| n.info.clone()).collect(),
            chains: self.chains.clone(),
            subnets: self.subnets.clone(),
            root_data_dir: self.root_data_dir.clone(),
        }
    }

    fn check_participants<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), RpcError> {
        for name in names {
            if !self.nodes.contains_key(name) {
                return Err(node_missing(name));
            }
        }
        Ok(())
    }

    fn add_subnet(&mut self, spec: &ChainSpec) -> Result<String, RpcError> {
        self.check_participants(&spec.participants)?;
        let participants: BTreeSet<String> = if spec.participants.is_empty() {
            self.nodes.keys().cloned().collect()
        } else {
            spec.participants.iter().cloned().collect()
        };
        let serial = self.next_serial();
        let id = format!("subnet-{}", short_id(&["subnet", &serial]));
        self.subnets.insert(
            id.clone(),
            Subnet {
                participants,
                ..Subnet::default()
            },
        );
        Ok(id)
    }

    fn add_blockchain(&mut self, spec: &BlockchainSpec) -> Result<String, RpcError> {
        if spec.vm_name.is_empty() {
            return Err(RpcError::invalid_argument(
                "a blockchain spec needs a vm_name",
            ));
        }
        let subnet_id = match (&spec.chain_spec, &spec.chain_id) {
            (Some(new_subnet), _) => self.add_subnet(new_subnet)?,
            (None, Some(existing)) => {
                if !self.subnets.contains_key(existing) {
                    return Err(RpcError::not_found(format!(
                        "subnet {existing:?} does not exist"
                    )));
                }
                existing.clone()
            }
            (None, None) => "primary".to_owned(),
        };
        let serial = self.next_serial();
        let chain_id = format!("chain-{}", short_id(&["chain", &spec.vm_name, &serial]));
        let chain_name = if spec.blockchain_alias.is_empty() {
            spec.vm_name.clone()
        } else {
            spec.blockchain_alias.clone()
        };
        self.chains.push(ChainInfo {
            chain_name,
            vm_id: format!("vm-{}", short_id(&["vm", &spec.vm_name])),
            vm_name: spec.vm_name.clone(),
            chain_id: chain_id.clone(),
            subnet_id,
            genesis: spec.genesis.as_bytes().to_vec(),
        });
        Ok(chain_id)
    }
}

impl SimBackend {
    /// A simulated cluster; with [`SimConfig::running`] its nodes `node1`..`nodeN` are
    /// starting (healthy after [`SimConfig::health_delay`]).
    pub fn new(config: SimConfig) -> Self {
        let mut state = State {
            running: false,
            root_data_dir: config.root_data_dir.clone(),
            nodes: BTreeMap::new(),
            chains: Vec::new(),
            subnets: BTreeMap::new(),
            peers: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            messages_sent: 0,
            serial: 0,
            next_port: 0,
        };
        if config.running {
            let now = Instant::now();
            state.running = true;
            for i in 1..=config.nodes {
                let name = format!("node{i}");
                let node = state.new_node(&config, &name, now);
                state.nodes.insert(name, node);
            }
        }
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                changes: watch::channel(0).0,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The cluster now, or `None` when no network is running.
    pub fn cluster_info(&self) -> Option<ClusterInfo> {
        let state = lock(&self.inner.state);
        state
            .running
            .then(|| state.info(&self.inner.config, Instant::now()))
    }

    /// SendOutboundMessage calls that sent something so far.
    pub fn messages_sent(&self) -> u64 {
        lock(&self.inner.state).messages_sent
    }

    /// Peers attached to `node`.
    pub fn attached_peers(&self, node: &str) -> Vec<String> {
        lock(&self.inner.state)
            .peers
            .get(node)
            .cloned()
            .unwrap_or_default()
    }

    /// Applies `change` to the state and wakes whoever waits on it.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut State, &SimConfig, Instant) -> Result<T, RpcError>,
    ) -> Result<T, RpcError> {
        let out = {
            let mut state = lock(&self.inner.state);
            change(&mut state, &self.inner.config, Instant::now())?
        };
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
        Ok(out)
    }

    fn read<T>(&self, read: impl FnOnce(&State, &SimConfig, Instant) -> T) -> T {
        let state = lock(&self.inner.state);
        read(&state, &self.inner.config, Instant::now())
    }

    fn running_info(&self) -> ClusterResult {
        self.read(|s, c, now| {
            s.require_running()?;
            Ok(Some(s.info(c, now)))
        })
    }
}

impl Backend for SimBackend {
    async fn ping(&self, _ctx: RequestContext) -> Result<i32, RpcError> {
        Ok(self.inner.config.pid)
    }

    async fn health(&self, _ctx: RequestContext) -> ClusterResult {
        self.running_info()
    }

    async fn wait_for_healthy(&self, _ctx: RequestContext) -> ClusterResult {
        let mut changes = self.inner.changes.subscribe();
        let deadline = Instant::now() + self.inner.config.wait_timeout;
        loop {
            // When the network is healthy, answer; otherwise learn when it could be:
            // the last node to come up, unless one is paused (then only a change helps).
            let next = self.read(|s, c, now| {
                s.require_running()?;
                if s.healthy(now) {
                    return Ok(Err(s.info(c, now)));
                }
                let paused = s.nodes.values().any(|n| n.info.paused);
                let ready = s.nodes.values().map(|n| n.ready_at).max();
                Ok(Ok(if paused { None } else { ready }))
            })?;
            let ready_at = match next {
                Err(info) => return Ok(Some(info)),
                Ok(ready_at) => ready_at,
            };
            if Instant::now() >= deadline {
                return Err(RpcError::new(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "the network did not turn healthy within {:?}",
                        self.inner.config.wait_timeout
                    ),
                ));
            }
            let wake = ready_at.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(RpcError::new(ErrorCode::Unavailable, "the simulator is gone"));
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn uris(&self, _ctx: RequestContext) -> Result<Vec<String>, RpcError> {
        self.read(|s, _, _| {
            s.require_running()?;
            Ok(s.nodes.values().map(|n| n.info.uri.clone()).collect())
        })
    }

    async fn status(&self, _ctx: RequestContext) -> ClusterResult {
        self.running_info()
    }

    async fn start(
        &self,
        _ctx: RequestContext,
        request: StartRequest,
    ) -> Result<ChainIdsResponse, RpcError> {
        self.change(|s, c, now| {
            if s.running {
                return Err(RpcError::failed_precondition(
                    "a network is already running (Stop it first)",
                ));
            }
            let count = request.num_nodes.unwrap_or(c.nodes);
            if count == 0 || count > 1000 {
                return Err(RpcError::invalid_argument(format!(
                    "num_nodes must be 1..=1000, got {count}"
                )));
            }
            s.tear_down();
            if let Some(root) = &request.root_data_dir {
                s.root_data_dir.clone_from(root);
            }
            s.running = true;
            for i in 1..=count {
                let name = format!("node{i}");
                let mut node = s.new_node(c, &name, now);
                if !request.exec_path.is_empty() {
                    node.info.exec_path.clone_from(&request.exec_path);
                }
                node.info.plugin_dir.clone_from(&request.plugin_dir);
                if let Some(w) = &request.whitelisted_chains {
                    node.info.whitelisted_subnets.clone_from(w);
                }
                if let Some(cfg) = request
                    .custom_node_configs
                    .get(&name)
                    .or(request.global_node_config.as_ref())
                {
                    node.info.config = cfg.as_bytes().to_vec();
                }
                s.nodes.insert(name, node);
            }
            let mut chain_ids = Vec::new();
            for spec in &request.blockchain_specs {
                match s.add_blockchain(spec) {
                    Ok(id) => chain_ids.push(id),
                    Err(e) => {
                        s.tear_down();
                        return Err(e);
                    }
                }
            }
            Ok(ChainIdsResponse {
                cluster_info: Some(s.info(c, now)),
                chain_ids,
            })
        })
    }

    async fn create_blockchains(
        &self,
        _ctx: RequestContext,
        specs: Vec<BlockchainSpec>,
    ) -> Result<ChainIdsResponse, RpcError> {
        self.change(|s, c, now| {
            s.require_running()?;
            // Check everything first so a bad spec creates nothing.
            for spec in &specs {
                if let Some(cs) = &spec.chain_spec {
                    s.check_participants(&cs.participants)?;
                }
            }
            let mut chain_ids = Vec::new();
            for spec in &specs {
                chain_ids.push(s.add_blockchain(spec)?);
            }
            Ok(ChainIdsResponse {
                cluster_info: Some(s.info(c, now)),
                chain_ids,
            })
        })
    }

    async fn create_chains(
        &self,
        _ctx: RequestContext,
        specs: Vec<ChainSpec>,
    ) -> Result<ChainIdsResponse, RpcError> {
        self.change(|s, c, now| {
            s.require_running()?;
            for spec in &specs {
                s.check_participants(&spec.participants)?;
            }
            let mut chain_ids = Vec::new();
            for spec in &specs {
                chain_ids.push(s.add_subnet(spec)?);
            }
            Ok(ChainIdsResponse {
                cluster_info: Some(s.info(c, now)),
                chain_ids,
            })
        })
    }

    async fn transform_elastic_chains(
        &self,
        _ctx: RequestContext,
        specs: Vec<ElasticChainSpec>,
    ) -> Result<TransformElasticChainsResponse, RpcError> {
        self.change(|s, c, now| {
            s.require_running()?;
            for spec in &specs {
                match s.subnets.get(&spec.chain_id) {
                    None => {
                        return Err(RpcError::not_found(format!(
                            "subnet {:?} does not exist",
                            spec.chain_id
                        )));
                    }
                    Some(subnet) if subnet.elastic.is_some() => {
                        return Err(RpcError::already_exists(format!(
                            "subnet {:?} is already elastic",
                            spec.chain_id
                        )));
                    }
                    Some(_) => {}
                }
                if spec.max_supply < spec.initial_supply {
                    return Err(RpcError::invalid_argument(
                        "max_supply is below initial_supply",
                    ));
                }
            }
            let mut response = TransformElasticChainsResponse::default();
            for spec in &specs {
                let serial = s.next_serial();
                let tx = format!("tx-{}", short_id(&["tx", &spec.chain_id, &serial]));
                let asset = format!(
                    "asset-{}",
                    short_id(&["asset", &spec.asset_symbol, &serial])
                );
                if let Some(subnet) = s.subnets.get_mut(&spec.chain_id) {
                    subnet.elastic = Some((tx.clone(), asset.clone()));
                }
                response.tx_ids.push(tx);
                response.asset_ids.push(asset);
            }
            response.cluster_info = Some(s.info(c, now));
            Ok(response)
        })
    }

    async fn add_permissionless_validator(
        &self,
        _ctx: RequestContext,
        specs: Vec<PermissionlessValidatorSpec>,
    ) -> ClusterResult {
        self.change(|s, c, now| {
            s.require_running()?;
            for spec in &specs {
                s.check_participants([&spec.node_name])?;
                match s.subnets.get(&spec.chain_id) {
                    None => {
                        return Err(RpcError::not_found(format!(
                            "subnet {:?} does not exist",
                            spec.chain_id
                        )));
                    }
                    Some(subnet) if subnet.elastic.is_none() => {
                        return Err(RpcError::failed_precondition(format!(
                            "subnet {:?} is not elastic (TransformElasticChains first)",
                            spec.chain_id
                        )));
                    }
                    Some(_) => {}
                }
            }
            for spec in &specs {
                if let Some(subnet) = s.subnets.get_mut(&spec.chain_id) {
                    subnet.validators.insert(spec.node_name.clone());
                }
            }
            Ok(Some(s.info(c, now)))
        })
    }

    async fn remove_chain_validator(
        &self,
        _ctx: RequestContext,
        specs: Vec<RemoveChainValidatorSpec>,
    ) -> ClusterResult {
        self.change(|s, c, now| {
            s.require_running()?;
            for spec in &specs {
                let Some(subnet) = s.subnets.get(&spec.chain_id) else {
                    return Err(RpcError::not_found(format!(
                        "subnet {:?} does not exist",
                        spec.chain_id
                    )));
                };
                for node in &spec.node_names {
                    if !subnet.participants.contains(node) && !subnet.validators.contains(node) {
                        return Err(RpcError::not_found(format!(
                            "node {node:?} does not validate subnet {:?}",
                            spec.chain_id
                        )));
                    }
                }
            }
            for spec in &specs {
                if let Some(subnet) = s.subnets.get_mut(&spec.chain_id) {
                    for node in &spec.node_names {
                        subnet.participants.remove(node);
                        subnet.validators.remove(node);
                    }
                }
            }
            Ok(Some(s.info(c, now)))
        })
    }

    async fn add_node(&self, _ctx: RequestContext, request: AddNodeRequest) -> ClusterResult {
        self.change(|s, c, now| {
            s.require_running()?;
            if request.name.is_empty() {
                return Err(RpcError::invalid_argument("a node needs a name"));
            }
            if s.nodes.contains_key(&request.name) {
                return Err(RpcError::already_exists(format!(
                    "node {:?} already exists",
                    request.name
                )));
            }
            let mut node = s.new_node(c, &request.name, now);
            if !request.exec_path.is_empty() {
                node.info.exec_path.clone_from(&request.exec_path);
            }
            if let Some(cfg) = &request.node_config {
                node.info.config = cfg.as_bytes().to_vec();
            }
            node.info.plugin_dir.clone_from(&request.plugin_dir);
            s.nodes.insert(request.name.clone(), node);
            Ok(Some(s.info(c, now)))
        })
    }

    async fn remove_node(&self, _ctx: RequestContext, name: String) -> ClusterResult {
        self.change(|s, c, now| {
            s.require_running()?;
            if s.nodes.remove(&name).is_none() {
                return Err(node_missing(&name));
            }
            s.peers.remove(&name);
            for subnet in s.subnets.values_mut() {
                subnet.participants.remove(&name);
                subnet.validators.remove(&name);
            }
            Ok(Some(s.info(c, now)))
        })
    }

    async fn restart_node(
        &self,
        _ctx: RequestContext,
        request: RestartNodeRequest,
    ) -> ClusterResult {
        self.change(|s, c, now| {
            let node = s.node_mut(&request.name)?;
            if let Some(exec) = &request.exec_path {
                node.info.exec_path.clone_from(exec);
            }
            if let Some(w) = &request.whitelisted_chains {
                node.info.whitelisted_subnets.clone_from(w);
            }
            if !request.plugin_dir.is_empty() {
                node.info.plugin_dir.clone_from(&request.plugin_dir);
            }
            node.info.paused = false;
            node.ready_at = now + c.health_delay;
            // A restarted node drops its peer connections.
            s.peers.remove(&request.name);
            Ok(Some(s.info(c, now)))
        })
    }

    async fn pause_node(&self, _ctx: RequestContext, name: String) -> ClusterResult {
        self.change(|s, c, now| {
            s.node_mut(&name)?.info.paused = true;
            Ok(Some(s.info(c, now)))
        })
    }

    async fn resume_node(&self, _ctx: RequestContext, name: String) -> ClusterResult {
        self.change(|s, c, now| {
            let node = s.node_mut(&name)?;
            if node.info.paused {
                node.info.paused = false;
                node.ready_at = now + c.health_delay;
            }
            Ok(Some(s.info(c, now)))
        })
    }

    async fn attach_peer(
        &self,
        _ctx: RequestContext,
        node_name: String,
    ) -> Result<AttachPeerResponse, RpcError> {
        self.change(|s, c, now| {
            s.node_mut(&node_name)?;
            let serial = s.next_serial();
            let id = format!("NodeID-{}", short_id(&["peer", &node_name, &serial]));
            s.peers.entry(node_name).or_default().push(id.clone());
            Ok(AttachPeerResponse {
                cluster_info: Some(s.info(c, now)),
                attached_peer_info: Some(AttachedPeerInfo { id }),
            })
        })
    }

    async fn send_outbound_message(
        &self,
        _ctx: RequestContext,
        request: SendOutboundMessageRequest,
    ) -> Result<bool, RpcError> {
        self.change(|s, _, _| {
            let paused = s.node_mut(&request.node_name)?.info.paused;
            let attached = s
                .peers
                .get(&request.node_name)
                .is_some_and(|p| p.contains(&request.peer_id));
            if !attached {
                return Err(RpcError::not_found(format!(
                    "peer {:?} is not attached to node {:?}",
                    request.peer_id, request.node_name
                )));
            }
            // A paused node sends nothing, as a stopped process would not.
            if !paused {
                s.messages_sent += 1;
            }
            Ok(!paused)
        })
    }

    async fn save_snapshot(
        &self,
        _ctx: RequestContext,
        snapshot_name: String,
    ) -> Result<String, RpcError> {
        // As the legacy server does, a (cold) snapshot stops the network.
        self.save(snapshot_name, true)
    }

    async fn save_hot_snapshot(
        &self,
        _ctx: RequestContext,
        snapshot_name: String,
    ) -> Result<String, RpcError> {
        self.save(snapshot_name, false)
    }

    async fn load_snapshot(
        &self,
        _ctx: RequestContext,
        request: LoadSnapshotRequest,
    ) -> ClusterResult {
        self.change(|s, c, now| {
            if s.running {
                return Err(RpcError::failed_precondition(
                    "a network is running (Stop it before loading a snapshot)",
                ));
            }
            let Some(snap) = s.snapshots.get(&request.snapshot_name).cloned() else {
                return Err(RpcError::not_found(format!(
                    "snapshot {:?} does not exist",
                    request.snapshot_name
                )));
            };
            s.tear_down();
            s.running = true;
            s.root_data_dir = request.root_data_dir.clone().unwrap_or(snap.root_data_dir);
            for mut info in snap.nodes {
                if let Some(exec) = &request.exec_path {
                    info.exec_path.clone_from(exec);
                }
                if let Some(cfg) = &request.global_node_config {
                    info.config = cfg.as_bytes().to_vec();
                }
                info.paused = false;
                s.nodes.insert(
                    info.name.clone(),
                    SimNode {
                        info,
                        ready_at: now + c.health_delay,
                    },
                );
            }
            s.chains = snap.chains;
            s.subnets = snap.subnets;
            Ok(Some(s.info(c, now)))
        })
    }

    async fn remove_snapshot(
        &self,
        _ctx: RequestContext,
        snapshot_name: String,
    ) -> Result<(), RpcError> {
        self.change(|s, _, _| {
            s.snapshots
                .remove(&snapshot_name)
                .map(|_| ())
                .ok_or_else(|| {
                    RpcError::not_found(format!("snapshot {snapshot_name:?} does not exist"))
                })
        })
    }

    async fn get_snapshot_names(&self, _ctx: RequestContext) -> Result<Vec<String>, RpcError> {
        Ok(self.read(|s, _, _| s.snapshots.keys().cloned().collect()))
    }

    async fn stop(&self, _ctx: RequestContext) -> ClusterResult {
        self.change(|s, c, now| {
            s.require_running()?;
            s.running = false;
            let last = s.info(c, now);
            s.tear_down();
            Ok(Some(last))
        })
    }
}

impl SimBackend {
    fn save(&self, snapshot_name: String, stop: bool) -> Result<String, RpcError> {
        self.change(|s, _, _| {
            s.require_running()?;
            if snapshot_name.is_empty() || snapshot_name.contains('/') {
                return Err(RpcError::invalid_argument(format!(
                    "{snapshot_name:?} is not a snapshot name (non-empty, no '/')"
                )));
            }
            if s.snapshots.contains_key(&snapshot_name) {
                return Err(RpcError::already_exists(format!(
                    "snapshot {snapshot_name:?} already exists"
                )));
            }
            let snap = s.snapshot();
            let path = format!("{}/snapshots/{snapshot_name}", s.root_data_dir);
            s.snapshots.insert(snapshot_name, snap);
            if stop {
                s.tear_down();
            }
            Ok(path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::PeerInfo;
    use crate::opcode::Method;

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: 1,
            method: Method::Status,
            peer: Arc::new(PeerInfo::default()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn health_follows_delay_pause_and_resume() {
        let sim = SimBackend::new(
            SimConfig::default()
                .with_nodes(2)
                .with_health_delay(Duration::from_secs(2)),
        );
        assert!(!sim.cluster_info().unwrap().healthy);
        // The virtual clock jumps to the moment the nodes are ready.
        let info = sim.wait_for_healthy(ctx()).await.unwrap().unwrap();
        assert!(info.healthy);

        let info = sim
            .pause_node(ctx(), "node1".into())
            .await
            .unwrap()
            .unwrap();
        assert!(!info.healthy);
        assert!(info.node("node1").unwrap().paused);

        let waiter = tokio::spawn({
            let sim = sim.clone();
            async move { sim.wait_for_healthy(ctx()).await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "a paused node keeps the cluster unhealthy"
        );
        sim.resume_node(ctx(), "node1".into()).await.unwrap();
        let info = waiter.await.unwrap().unwrap().unwrap();
        assert!(info.healthy && !info.node("node1").unwrap().paused);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_healthy_gives_up_at_its_deadline() {
        let sim = SimBackend::new(
            SimConfig::default()
                .with_nodes(1)
                .with_wait_timeout(Duration::from_secs(5)),
        );
        sim.pause_node(ctx(), "node1".into()).await.unwrap();
        let err = sim.wait_for_healthy(ctx()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    }

    #[tokio::test]
    async fn snapshots_stop_and_restore_the_network() {
        let sim = SimBackend::new(SimConfig::default().with_nodes(3));
        sim.add_node(ctx(), AddNodeRequest::named("extra"))
            .await
            .unwrap();
        let path = sim.save_snapshot(ctx(), "s1".into()).await.unwrap();
        assert!(path.ends_with("/snapshots/s1"));
        assert!(
            sim.cluster_info().is_none(),
            "a cold snapshot stops the network"
        );
        assert_eq!(
            sim.status(ctx()).await.unwrap_err().code(),
            ErrorCode::FailedPrecondition
        );
        let info = sim
            .load_snapshot(ctx(), LoadSnapshotRequest::named("s1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.node_names, ["extra", "node1", "node2", "node3"]);
        sim.save_hot_snapshot(ctx(), "s2".into()).await.unwrap();
        assert!(
            sim.cluster_info().is_some(),
            "a hot snapshot keeps it running"
        );
        assert_eq!(sim.get_snapshot_names(ctx()).await.unwrap(), ["s1", "s2"]);
        sim.remove_snapshot(ctx(), "s1".into()).await.unwrap();
        assert_eq!(
            sim.remove_snapshot(ctx(), "s1".into())
                .await
                .unwrap_err()
                .code(),
            ErrorCode::NotFound
        );
    }

    #[tokio::test]
    async fn chains_subnets_and_validators() {
        let sim = SimBackend::new(SimConfig::default().with_nodes(3));
        let subnets = sim
            .create_chains(
                ctx(),
                vec![ChainSpec {
                    participants: vec!["node1".into(), "node2".into()],
                    chain_config_file: String::new(),
                }],
            )
            .await
            .unwrap();
        let subnet = subnets.chain_ids[0].clone();
        let chains = sim
            .create_blockchains(
                ctx(),
                vec![BlockchainSpec {
                    vm_name: "evm".into(),
                    genesis: "{\"g\":1}".into(),
                    chain_id: Some(subnet.clone()),
                    ..BlockchainSpec::default()
                }],
            )
            .await
            .unwrap();
        let info = chains.cluster_info.unwrap();
        let chain = info.chain(&chains.chain_ids[0]).unwrap();
        assert_eq!(chain.subnet_id, subnet);
        assert_eq!(chain.genesis, b"{\"g\":1}");

        let not_elastic = sim
            .add_permissionless_validator(
                ctx(),
                vec![PermissionlessValidatorSpec {
                    chain_id: subnet.clone(),
                    node_name: "node3".into(),
                    ..PermissionlessValidatorSpec::default()
                }],
            )
            .await
            .unwrap_err();
        assert_eq!(not_elastic.code(), ErrorCode::FailedPrecondition);
        sim.transform_elastic_chains(
            ctx(),
            vec![ElasticChainSpec {
                chain_id: subnet.clone(),
                asset_symbol: "TST".into(),
                ..ElasticChainSpec::default()
            }],
        )
        .await
        .unwrap();
        sim.add_permissionless_validator(
            ctx(),
            vec![PermissionlessValidatorSpec {
                chain_id: subnet.clone(),
                node_name: "node3".into(),
                ..PermissionlessValidatorSpec::default()
            }],
        )
        .await
        .unwrap();
        sim.remove_chain_validator(
            ctx(),
            vec![RemoveChainValidatorSpec {
                chain_id: subnet.clone(),
                node_names: vec!["node3".into()],
            }],
        )
        .await
        .unwrap();
        let again = sim
            .remove_chain_validator(
                ctx(),
                vec![RemoveChainValidatorSpec {
                    chain_id: subnet,
                    node_names: vec!["node3".into()],
                }],
            )
            .await
            .unwrap_err();
        assert_eq!(again.code(), ErrorCode::NotFound);
    }
}
