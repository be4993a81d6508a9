//! Running a tool inside a network namespace, with a deadline, and turning every
//! failure into an error that names the command, the namespace and the tool's stderr.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// How long a setup or inspection command may take. Generous: both cores may be busy
/// with other builds, but a wedged daemon must not hang a test forever.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a command runs, in words for error messages.
pub(crate) fn place(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "the root namespace".to_owned(),
    }
}

/// The `Command` that runs `args` in `namespace` (or in the caller's namespace).
pub(crate) fn in_namespace<S: AsRef<std::ffi::OsStr>>(
    namespace: Option<&str>,
    args: &[S],
) -> Command {
    let (program, rest) = args.split_first().expect("a command has a program");
    match namespace {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(program).args(rest);
            cmd
        }
        None => {
            let mut cmd = Command::new(program);
            cmd.args(rest);
            cmd
        }
    }
}

pub(crate) fn display<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `args` in `namespace` and returns its output whatever its exit status; fails
/// only when the command cannot start or overruns `timeout`.
pub(crate) fn output<S: AsRef<std::ffi::OsStr>>(
    namespace: Option<&str>,
    args: &[S],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let mut cmd = in_namespace(namespace, args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: display(args),
        place: place(namespace),
        source,
    })?;

    // Readers and writer on their own threads, so a chatty tool never blocks on a full
    // pipe while we wait for it to exit.
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        let bytes = bytes.to_vec();
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().expect("stdout was piped");
    let mut err_pipe = child.stderr.take().expect("stderr was piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });

    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::CommandTimeout {
                    command: display(args),
                    place: place(namespace),
                    timeout,
                });
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(LabError::io(
                    format!("waiting for `{}` in {}", display(args), place(namespace)),
                    source,
                ))
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// Runs `args` in `namespace`; a non-zero exit is an error carrying the tool's stderr.
/// Returns stdout.
pub(crate) fn run<S: AsRef<std::ffi::OsStr>>(
    namespace: Option<&str>,
    args: &[S],
    stdin: Option<&[u8]>,
) -> Result<String> {
    let out = output(namespace, args, stdin, DEFAULT_TIMEOUT)?;
    check(namespace, args, out)
}

/// Turns a finished command's output into its stdout, or an error if it failed.
pub(crate) fn check<S: AsRef<std::ffi::OsStr>>(
    namespace: Option<&str>,
    args: &[S],
    out: Output,
) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(LabError::Failed {
            command: display(args),
            place: place(namespace),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            stdout,
        })
    }
}
