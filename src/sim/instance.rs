//! A simulated instance's audit files, with the MariaDB plugin's rotation
//! (every file renamed one step older, zero-padded suffixes from 10
//! rotations on, the oldest deleted) or Aurora's stripes (stable names,
//! several growing at once).

use crate::instance::{Instance, InstanceId, ResourceId, Role};
use crate::list::{AuditName, LogFile};

/// One audit file that exists or once existed.
#[derive(Debug, Clone)]
pub struct SimFile {
    /// Which file this is, for the oracle (never seen by the pipeline).
    pub uid: usize,
    pub bytes: Vec<u8>,
    pub last_written_ms: i64,
    /// Aurora only: the stripe and the name's sequence number.
    pub stripe: u8,
    pub seq: u32,
    /// The resource id of the instance it belonged to.
    pub resource_id: String,
    /// Rotated: its bytes never change again.
    pub closed: bool,
    /// Checkpoint writes for its instance before it was deleted: a file
    /// deleted before the worker ever recorded anything of its instance is
    /// nothing a later run could know of.
    pub checkpoint_writes_before_deletion: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    MariaDb { rotations: usize },
    Aurora { stripes: u8, keep: usize },
}

#[derive(Debug, Clone)]
pub struct SimInstance {
    pub id: String,
    pub resource_id: String,
    pub engine: Engine,
    /// MariaDB: index 0 is `server_audit.log`, i is `.i`. Aurora: any order.
    pub files: Vec<SimFile>,
    /// Files deleted by rotation, expiry or instance replacement.
    pub deleted: Vec<SimFile>,
    pub role: Role,
    next_uid: usize,
    clock_ms: i64,
    next_query: u64,
    replacements: u32,
    /// Checkpoint writes that reached the store for the current resource id.
    pub checkpoint_writes: usize,
}

impl SimInstance {
    pub fn new(engine: Engine) -> Self {
        let mut sim = SimInstance {
            id: "sim-1".into(),
            resource_id: "db-SIM0".into(),
            engine,
            files: Vec::new(),
            deleted: Vec::new(),
            role: Role::Standalone,
            next_uid: 0,
            clock_ms: 1_764_583_200_000,
            next_query: 1,
            replacements: 0,
            checkpoint_writes: 0,
        };
        sim.start_files();
        sim
    }

    fn start_files(&mut self) {
        match self.engine {
            Engine::MariaDb { .. } => {
                let f = self.new_file(0, 0);
                self.files.push(f);
            }
            Engine::Aurora { stripes, .. } => {
                for s in 0..stripes {
                    let f = self.new_file(s, 0);
                    self.files.push(f);
                }
            }
        }
    }

    fn new_file(&mut self, stripe: u8, seq: u32) -> SimFile {
        self.next_uid += 1;
        self.clock_ms += 1;
        SimFile {
            uid: self.next_uid,
            bytes: Vec::new(),
            last_written_ms: self.clock_ms,
            stripe,
            seq,
            resource_id: self.resource_id.clone(),
            closed: false,
            checkpoint_writes_before_deletion: 0,
        }
    }

    /// What discovery reports for it now.
    pub fn instance(&self) -> Instance {
        Instance {
            id: InstanceId(self.id.clone()),
            resource_id: ResourceId(self.resource_id.clone()),
            cluster: None,
            role: self.role,
            engine: match self.engine {
                Engine::MariaDb { .. } => "mariadb".into(),
                Engine::Aurora { .. } => "aurora-mysql".into(),
            },
            status: "available".into(),
            endpoint: None,
            account: None,
        }
    }

    /// The current name of the file at `index`.
    pub fn name_of(&self, index: usize) -> String {
        let f = &self.files[index];
        match self.engine {
            Engine::MariaDb { .. } if index == 0 => "audit/server_audit.log".into(),
            Engine::MariaDb { rotations } if rotations >= 10 => format!("audit/server_audit.log.{index:02}"),
            Engine::MariaDb { .. } => format!("audit/server_audit.log.{index}"),
            // A replacement takes minutes (deletion, then creation): its
            // files' names begin at a later minute than the old one's.
            Engine::Aurora { .. } => {
                format!("audit/audit.log.{}.2026-12-01-10-{:02}.{}", f.stripe, self.replacements * 10 % 60, f.seq)
            }
        }
    }

    pub fn at_name(&self, name: &str) -> Option<&SimFile> {
        (0..self.files.len()).find(|&i| self.name_of(i) == name).map(|i| &self.files[i])
    }

    /// DescribeDBLogFiles as RDS answers it, newest first.
    pub fn listing(&self) -> Vec<LogFile> {
        let mut files: Vec<LogFile> = (0..self.files.len())
            .map(|i| {
                let name = self.name_of(i);
                LogFile {
                    kind: AuditName::parse(&name).expect("a simulated name parses"),
                    name,
                    size: self.files[i].bytes.len() as u64,
                    last_written_ms: self.files[i].last_written_ms,
                }
            })
            .collect();
        files.sort_by(LogFile::newest_first);
        files
    }

    /// One audit record, unique in the world (so first lines differ).
    pub fn record(&mut self) -> Vec<u8> {
        let q = self.next_query;
        self.next_query += 1;
        format!(
            "20261201 10:{:02}:{:02},sim,app,10.0.0.1,7,{q},QUERY,shop,'SELECT {q}, \\'a,b\\'',0\n",
            (q / 60) % 60,
            q % 60
        )
        .into_bytes()
    }

    /// Appends bytes to a growing file (`stripe` picks Aurora's stripe).
    pub fn append(&mut self, stripe: u8, bytes: &[u8]) {
        self.clock_ms += 1;
        let now = self.clock_ms;
        let i = self.growing_index(stripe);
        self.files[i].bytes.extend_from_slice(bytes);
        self.files[i].last_written_ms = now;
    }

    fn growing_index(&self, stripe: u8) -> usize {
        match self.engine {
            Engine::MariaDb { .. } => 0,
            Engine::Aurora { .. } => self
                .files
                .iter()
                .enumerate()
                .filter(|(_, f)| f.stripe == stripe && !f.closed)
                .map(|(i, _)| i)
                .next()
                .expect("every stripe has a growing file"),
        }
    }

    /// Starts a stripe's empty growing file with the first `lines` whole
    /// lines of the file before it on the stripe, fewer than it has (a file
    /// with exactly another's bytes is beyond what can be told apart once
    /// one of them is gone; see `pipeline::family`).
    pub fn echo(&mut self, stripe: u8, lines: usize) {
        let i = self.growing_index(stripe);
        if !self.files[i].bytes.is_empty() {
            return;
        }
        let before = self.files.iter().filter(|f| f.stripe == stripe && f.closed).max_by_key(|f| f.uid);
        let Some(before) = before else { return };
        let ends: Vec<usize> =
            before.bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(at, _)| at + 1).collect();
        if ends.len() < 2 {
            return;
        }
        let end = ends[lines.clamp(1, ends.len() - 1) - 1];
        let echoed = before.bytes[..end].to_vec();
        self.append(stripe, &echoed);
    }

    /// Appends one whole record.
    pub fn append_record(&mut self, stripe: u8) {
        let r = self.record();
        self.append(stripe, &r);
    }

    /// The plugin's rotation: every file one name older, a new active file,
    /// the oldest beyond ROTATIONS deleted. Aurora: the stripe's file closes
    /// and a new one begins; beyond `keep` files, the oldest is removed.
    pub fn rotate(&mut self, stripe: u8) {
        match self.engine {
            Engine::MariaDb { rotations } => {
                self.files[0].closed = true;
                let fresh = self.new_file(0, 0);
                self.files.insert(0, fresh);
                while self.files.len() > rotations + 1 {
                    let gone = self.files.pop().expect("files");
                    self.delete(gone);
                }
            }
            Engine::Aurora { keep, .. } => {
                let i = self.growing_index(stripe);
                self.files[i].closed = true;
                let seq = self.files[i].seq + 1;
                let fresh = self.new_file(stripe, seq);
                self.files.push(fresh);
                if self.files.len() > keep {
                    let oldest = (0..self.files.len())
                        .filter(|&j| self.files[j].closed)
                        .min_by_key(|&j| self.files[j].uid)
                        .expect("a closed file");
                    let gone = self.files.remove(oldest);
                    self.delete(gone);
                }
            }
        }
    }

    /// The instance is deleted and another created with the same
    /// identifier: a new resource id, new files, the old ones gone.
    pub fn replace(&mut self) {
        self.replacements += 1;
        self.resource_id = format!("db-SIM{}", self.replacements);
        let old: Vec<SimFile> = self.files.drain(..).collect();
        for f in old {
            self.delete(f);
        }
        self.checkpoint_writes = 0;
        self.start_files();
    }

    fn delete(&mut self, mut file: SimFile) {
        file.checkpoint_writes_before_deletion = self.checkpoint_writes;
        self.deleted.push(file);
    }

    /// Every file that ever existed, present ones first.
    pub fn all_files(&self) -> impl Iterator<Item = (&SimFile, bool)> {
        self.files.iter().map(|f| (f, true)).chain(self.deleted.iter().map(|f| (f, false)))
    }
}
