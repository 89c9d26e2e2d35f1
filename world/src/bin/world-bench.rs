//! Prints the world's figures: cached start time, broker start-to-Ready, idle memory.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
