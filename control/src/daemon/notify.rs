//! Notify commands (`notify_up`/`notify_down` of a backend,
//! `quorum_up`/`quorum_down` of a service): run on the health runtime,
//! without a shell, in their own process group, with a time limit, so a
//! slow or hanging command never holds up the daemon. What became of each
//! is logged.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::runtime::Handle;

use super::Logger;

/// How long a notify command may run before its process group is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `command` with `env` in the background; `what` names it in the log.
pub fn run(
    runtime: &Handle,
    log: &Logger,
    what: String,
    command: &[String],
    env: Vec<(&'static str, String)>,
    limit: Duration,
) {
    let Some((program, args)) = command.split_first() else {
        return;
    };
    let (program, args, log) = (program.clone(), args.to_vec(), log.clone());
    runtime.spawn(async move {
        let child = Command::new(&program)
            .args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                log.warn(format_args!("notify: {what}: cannot run {program}: {e}"));
                return;
            }
        };
        let pid = child.id();
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => log.log(format_args!("notify: {what}: {program} {status}")),
            Ok(Err(e)) => log.warn(format_args!("notify: {what}: {program}: {e}")),
            Err(_) => {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                log.warn(format_args!(
                    "notify: {what}: {program} killed after {} s",
                    limit.as_secs()
                ));
            }
        }
    });
}
