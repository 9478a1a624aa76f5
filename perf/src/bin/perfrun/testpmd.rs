//! The ceiling of each row: `dpdk-testpmd` (`io` and `macswap`) run on the
//! same ports and core as ferrolb, driven through its interactive prompt
//! and read by its own `show port stats` rate over the window.

use super::*;

pub(super) fn run_testpmd(run: &RowRun<'_>, tag: &str, fwd: &str, memory: Memory) -> Result<f64> {
    let RowRun {
        args,
        logs,
        pcaps,
        ports,
        ..
    } = *run;
    let Memory { mbufs, mb: mem_mb } = memory;
    let mut cmd = ports.command(Path::new(&args.testpmd));
    cmd.args(["-l", &format!("{},{}", args.main_core, args.core)])
        .args(["--main-lcore", &args.main_core.to_string()])
        .args(eal_args(mem_mb, &file_prefix(&format!("{tag}-tp-{fwd}"))));
    for (_, dev) in forwarding_ports(pcaps, ports) {
        cmd.arg(format!("--vdev={dev}"));
    }
    cmd.args([
        "--",
        "-i",
        &format!("--forward-mode={fwd}"),
        "--port-topology=paired",
        &format!("--total-num-mbufs={mbufs}"),
        "--nb-cores=1",
        "--burst=32",
    ]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", args.testpmd))?;
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let output = Arc::clone(&output);
        readers.push(thread::spawn(move || {
            let mut r = BufReader::new(stream);
            let mut buf = Vec::new();
            while let Ok(n) = r.read_until(b' ', &mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut o) = output.lock() {
                    o.push_str(&String::from_utf8_lossy(&buf));
                }
                buf.clear();
            }
        }));
    }
    let result = drive_testpmd(args, &mut child, &output);
    let _ = child.kill();
    let _ = child.wait();
    for r in readers {
        let _ = r.join();
    }
    let text = output.lock().map(|o| o.clone()).unwrap_or_default();
    let _ = std::fs::write(logs.join(format!("{tag}.testpmd-{fwd}.log")), &text);
    result?;
    report::testpmd_tx_mpps(&text).ok_or_else(|| anyhow!("no port statistics in testpmd's output"))
}

fn drive_testpmd(args: &Args, child: &mut Child, output: &Mutex<String>) -> Result<()> {
    let started = Instant::now();
    loop {
        if output
            .lock()
            .map(|o| o.contains("testpmd> "))
            .unwrap_or(false)
        {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!("testpmd exited ({status}) before its prompt");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("no testpmd prompt in 600 s");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
    stdin.write_all(b"start\n")?;
    stdin.flush()?;
    thread::sleep(Duration::from_secs_f64(args.warmup));
    // The first show starts testpmd's rate clock, the second reads the window.
    stdin.write_all(b"show port stats all\n")?;
    stdin.flush()?;
    thread::sleep(Duration::from_secs_f64(args.window));
    stdin.write_all(b"show port stats all\nstop\nquit\n")?;
    stdin.flush()?;
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
