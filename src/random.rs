//! Randomness from the operating system's generator: raw bytes, and the
//! random (version 4) UUIDs the protocol uses as `resolve_id`s.

/// Fills `N` bytes from the operating system's random generator.
pub fn bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// A random (version 4) UUID, the shape of the original clients'
/// `resolve_id`s: for the module client's requests and the hub's unasked
/// messages.
pub fn uuid4() -> String {
    let mut b: [u8; 16] = bytes().unwrap_or_else(|_| {
        // Uniqueness is all such an id needs, should the OS generator fail.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nanos.to_le_bytes()
    });
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
