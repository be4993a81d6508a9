//! Running things in a node's namespace: a command that runs to completion, or a
//! program left running whose output goes to a log in the state directory. The lab
//! keeps every program it started, so that teardown can kill it and a failure report
//! can quote its log.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::{Lab, State};
use crate::command::{self, place};
use crate::error::{LabError, Result};
use crate::topology::Node;

/// How long a user command run through [`Lab::exec`] may take.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

/// A process started with [`Lab::spawn`]; the lab kills it on teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawned {
    id: usize,
    pub pid: u32,
    pub node: Node,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// The lab's own record of a [`Spawned`] process: the handle that can kill and reap it.
pub(super) struct SpawnedChild {
    id: usize,
    pub(super) node: Node,
    pub(super) log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl SpawnedChild {
    /// Kills the process unless it already exited, and reaps it.
    pub(super) fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Lab {
    /// Runs `args` in the node's namespace; a non-zero exit is an error carrying the
    /// command, the namespace and stderr. Returns stdout.
    pub fn exec(&self, node: impl Into<Node>, args: &[&str]) -> Result<String> {
        let ns = self.namespace(node);
        let out = command::output(Some(&ns), args, None, EXEC_TIMEOUT)?;
        command::check(Some(&ns), args, out)
    }

    /// Runs `args` in the node's namespace and returns its output whatever its exit
    /// status (for commands expected to fail, such as a ping that must not get through).
    pub fn try_exec(&self, node: impl Into<Node>, args: &[&str]) -> Result<Output> {
        let ns = self.namespace(node);
        command::output(Some(&ns), args, None, EXEC_TIMEOUT)
    }

    /// Runs `ip -batch -` in the node's namespace: one process for many changes.
    pub(super) fn ip_batch(&self, node: Node, batch: &str) -> Result<()> {
        command::run(
            Some(&self.namespace(node)),
            &["ip", "-batch", "-"],
            Some(batch.as_bytes()),
        )
        .map(|_| ())
    }

    /// Starts `cmd` in the node's namespace, its program, arguments, environment and
    /// working directory as set on `cmd`. Its stdin is null; stdout and stderr go to
    /// [`Spawned::log`] (any stdio set on `cmd` is ignored). Killed on teardown.
    pub fn spawn(&self, node: impl Into<Node>, cmd: Command) -> Result<Spawned> {
        let node = node.into();
        let ns = self.namespace(node);
        let mut args: Vec<OsString> = vec![cmd.get_program().to_owned()];
        args.extend(cmd.get_args().map(|a| a.to_owned()));
        let program = Path::new(cmd.get_program())
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cmd".into());

        let mut state = self.state();
        let id = state.children.len();
        let log = self
            .state_dir()
            .join(format!("{}-{program}-{id}.log", node.suffix()));
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| LabError::io(format!("opening {}", log.display()), e))
        };
        let mut real = command::in_namespace(Some(&ns), &args);
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => real.env(key, v),
                None => real.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            real.current_dir(dir);
        }
        let child = real
            .stdin(Stdio::null())
            .stdout(open()?)
            .stderr(open()?)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: command::display(&args),
                place: place(Some(&ns)),
                source,
            })?;
        let spawned = Spawned {
            id,
            pid: child.id(),
            node,
            log: log.clone(),
        };
        state.children.push(SpawnedChild {
            id,
            node,
            log,
            child,
            exited: None,
        });
        Ok(spawned)
    }

    /// Whether a spawned process has exited, and how.
    pub fn try_wait(&self, spawned: &Spawned) -> Result<Option<ExitStatus>> {
        let mut state = self.state();
        let child = Self::child(&mut state, spawned)?;
        if child.exited.is_none() {
            child.exited = child
                .child
                .try_wait()
                .map_err(|e| LabError::io(format!("checking pid {}", spawned.pid), e))?;
        }
        Ok(child.exited)
    }

    /// Kills a spawned process (if still running) and reaps it.
    pub fn stop(&self, spawned: &Spawned) -> Result<ExitStatus> {
        let mut state = self.state();
        let child = Self::child(&mut state, spawned)?;
        if let Some(status) = child.exited {
            return Ok(status);
        }
        let _ = child.child.kill();
        let status = child
            .child
            .wait()
            .map_err(|e| LabError::io(format!("reaping pid {}", spawned.pid), e))?;
        child.exited = Some(status);
        Ok(status)
    }

    /// Everything a spawned process has written so far.
    pub fn log(&self, spawned: &Spawned) -> String {
        fs::read_to_string(&spawned.log).unwrap_or_default()
    }

    /// By id, not pid: a pid can be reused once the process is reaped.
    fn child<'a>(state: &'a mut State, spawned: &Spawned) -> Result<&'a mut SpawnedChild> {
        state
            .children
            .iter_mut()
            .find(|c| c.id == spawned.id)
            .ok_or_else(|| {
                LabError::Usage(format!("pid {} was not spawned by this lab", spawned.pid))
            })
    }
}
