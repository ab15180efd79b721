//! The test message of conformance/README.md: sequence number, producer id,
//! length, filler derived from the sequence number, FNV-1a 64 checksum.

/// Smallest message: the three fields and the checksum.
pub const MIN_SIZE: usize = 24;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

fn filler(sequence: u64, offset: usize) -> u8 {
    (sequence.wrapping_mul(31).wrapping_add(offset as u64) & 0xff) as u8
}

/// Writes message `sequence` of producer `producer` into `out` (its whole length).
pub fn write(out: &mut [u8], sequence: u64, producer: u32) {
    let size = out.len();
    assert!(size >= MIN_SIZE, "messages are at least {MIN_SIZE} bytes");
    out[0..8].copy_from_slice(&sequence.to_le_bytes());
    out[8..12].copy_from_slice(&producer.to_le_bytes());
    out[12..16].copy_from_slice(&(size as u32).to_le_bytes());
    for (offset, byte) in out.iter_mut().enumerate().take(size - 8).skip(16) {
        *byte = filler(sequence, offset);
    }
    let checksum = fnv1a(&out[..size - 8]);
    out[size - 8..].copy_from_slice(&checksum.to_le_bytes());
}

/// Checks a received message; returns `(producer, sequence)`.
pub fn check(message: &[u8]) -> Result<(u32, u64), String> {
    let size = message.len();
    if size < MIN_SIZE {
        return Err(format!("message of {size} bytes, below {MIN_SIZE}"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(message[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(message[at..at + 4].try_into().unwrap());
    let (sequence, producer, claimed) = (u64_at(0), u32_at(8), u32_at(12));
    if claimed as usize != size {
        return Err(format!(
            "message {sequence} of producer {producer} says {claimed} bytes, has {size}"
        ));
    }
    let checksum = fnv1a(&message[..size - 8]);
    if checksum != u64_at(size - 8) {
        return Err(format!(
            "message {sequence} of producer {producer}: checksum mismatch"
        ));
    }
    if let Some(offset) = (16..size - 8).find(|&offset| message[offset] != filler(sequence, offset))
    {
        return Err(format!(
            "message {sequence} of producer {producer}: filler wrong at byte {offset}"
        ));
    }
    Ok((producer, sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_message_checks() {
        let mut buffer = vec![0u8; 64];
        write(&mut buffer, 77, 3);
        assert_eq!(check(&buffer), Ok((3, 77)));
    }

    #[test]
    fn a_flipped_bit_fails_the_check() {
        let mut buffer = vec![0u8; 40];
        write(&mut buffer, 5, 1);
        for byte in 0..buffer.len() {
            let mut corrupted = buffer.clone();
            corrupted[byte] ^= 0x10;
            assert!(
                check(&corrupted).is_err(),
                "flip in byte {byte} went unnoticed"
            );
        }
    }

    #[test]
    fn a_truncated_message_fails_the_check() {
        let mut buffer = vec![0u8; 64];
        write(&mut buffer, 9, 0);
        assert!(check(&buffer[..56]).is_err());
    }

    /// A value any implementation of the format must reproduce (the C and Go
    /// peers test the same number).
    #[test]
    fn the_reference_message_has_the_reference_checksum() {
        let mut buffer = vec![0u8; 32];
        write(&mut buffer, 1, 2);
        assert_eq!(buffer[16..24], [47, 48, 49, 50, 51, 52, 53, 54]);
        let checksum = u64::from_le_bytes(buffer[24..].try_into().unwrap());
        assert_eq!(checksum, 0x4e3f_d23b_b712_e37e);
    }
}
