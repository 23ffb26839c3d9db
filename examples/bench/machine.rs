//! The machine's own prices, to read the platform's figures by: one bcrypt
//! hash (`hash-time`) and one thread hand-off (`switch-cost`).

use super::{cpu_seconds, ms, Res};
use std::time::Instant;

pub fn hash_time(args: &mut pico_args::Arguments) -> Res<()> {
    let cost: u32 = args.value_from_str("--cost")?;
    let rounds = 10;
    let start = Instant::now();
    for _ in 0..rounds {
        bcrypt::hash("benchmark password", cost)?;
    }
    let one = start.elapsed() / rounds;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "hash-time: bcrypt cost {cost}: {} per hash; bound {cores} cores / hash = {:.1} logins/s",
        ms(one),
        cores as f64 / one.as_secs_f64()
    );
    Ok(())
}

/// A request through the platform crosses threads four times, so on a VM
/// whose cost per wake-up drifts (the host's doing), CPU per request drifts
/// with it. This measures that cost alone, to read the other figures by.
pub fn switch_cost() -> Res<()> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    const ROUNDS: u32 = 50_000;
    let (mut near, mut far) = UnixStream::pair()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let mut byte = [0u8; 1];
        for _ in 0..ROUNDS {
            far.read_exact(&mut byte)?;
            far.write_all(&byte)?;
        }
        Ok(())
    });
    let cpu0 = cpu_seconds(std::process::id())?;
    let start = Instant::now();
    let mut byte = [7u8; 1];
    for _ in 0..ROUNDS {
        near.write_all(&byte)?;
        near.read_exact(&mut byte)?;
    }
    let wall = start.elapsed();
    echo.join().map_err(|_| "echo thread panicked")??;
    let cpu = cpu_seconds(std::process::id())? - cpu0;
    println!(
        "switch-cost: {ROUNDS} round trips between two threads: {:.1} µs CPU, {:.1} µs wall each",
        cpu * 1e6 / f64::from(ROUNDS),
        wall.as_secs_f64() * 1e6 / f64::from(ROUNDS)
    );
    Ok(())
}
