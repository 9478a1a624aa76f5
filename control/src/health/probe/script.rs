//! A command (keepalived's MISC_CHECK): exit status 0 passes, anything
//! else fails; with `dynamic` (keepalived's `misc_dynamic`) 1 fails and
//! 2..=255 passes with weight status - 2. The command runs in its own
//! process group, without a shell, stdin/stdout/stderr on /dev/null; at
//! the deadline the whole group is killed (SIGKILL), so a script that
//! hangs or leaves children behind costs one check its timeout and
//! nothing more.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::time::timeout_at;

use super::{Deadline, Passed};
use crate::health::spec::ScriptSpec;

pub async fn probe(spec: &ScriptSpec, deadline: Deadline) -> Result<Passed, String> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err("no command".into());
    };
    let mut child = Command::new(program)
        .args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut group = GroupKiller(child.id());
    match timeout_at(deadline.at, child.wait()).await {
        // The group is killed as `group` drops; tokio reaps the child.
        Err(_) => Err(format!("{program}: {}", deadline.timed_out())),
        Ok(Err(e)) => Err(format!("{program}: waiting for it: {e}")),
        Ok(Ok(status)) => {
            // What it left behind in the background is its own business.
            group.0 = None;
            judge(program, status, spec.dynamic)
        }
    }
}

fn judge(program: &str, status: ExitStatus, dynamic: bool) -> Result<Passed, String> {
    match status.code() {
        Some(0) => Ok(None),
        Some(code @ 2..=255) if dynamic => Ok(Some(code as u32 - 2)),
        Some(code) => Err(format!("{program} exited with status {code}")),
        None => Err(format!(
            "{program} killed by signal {}",
            status.signal().unwrap_or(0)
        )),
    }
}

/// Kills the process group of the child on drop (deadline passed, or the
/// check itself was stopped).
struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_decide_as_keepalived() {
        let exit = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(judge("c", exit(0), false), Ok(None));
        assert_eq!(judge("c", exit(0), true), Ok(None));
        assert!(judge("c", exit(1), true).is_err());
        assert_eq!(
            judge("c", exit(2), false),
            Err("c exited with status 2".into())
        );
        assert_eq!(judge("c", exit(2), true), Ok(Some(0)));
        assert_eq!(judge("c", exit(12), true), Ok(Some(10)));
        assert_eq!(judge("c", exit(255), true), Ok(Some(253)));
        assert_eq!(
            judge("c", ExitStatus::from_raw(9), true),
            Err("c killed by signal 9".into())
        );
    }
}
