//! The input about to run, on the host before it runs: a record in the guest's shared
//! memory, else `KSOCK-INPUT` lines on the console (see ARCHITECTURE.md, "A fuzz input is on
//! the host before it runs").

/// Prefix of the kernel log line holding the input about to run (hex), written at the
/// emergency level so the console carries it even while quiet: when the kernel panics, the
/// last such line on the host's console names the input that did it.
pub const INPUT_MARK: &str = "KSOCK-INPUT";

/// Input bytes per console record: their hex must fit one kernel log record (~1 KiB).
const CONSOLE_CHUNK: usize = 400;

/// The `/dev/kmsg` records announcing `input` (see [`INPUT_MARK`]): the first chunk after
/// `KSOCK-INPUT`, the rest after `KSOCK-INPUT+`.
pub fn input_records(input: &[u8]) -> Vec<String> {
    let hex = |c: &[u8]| c.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut chunks = input.chunks(CONSOLE_CHUNK);
    let first = chunks.next().unwrap_or(&[]);
    std::iter::once(format!("<0>{INPUT_MARK} {}\n", hex(first)))
        .chain(chunks.map(|c| format!("<0>{INPUT_MARK}+ {}\n", hex(c))))
        .collect()
}

/// Size of the shared-memory input record (an ivshmem device: a power of two).
pub const RECORD_BYTES: usize = 64 * 1024;
/// File in a job's directory backing the guest's input record.
pub const RECORD_FILE: &str = "input-record.bin";
const RECORD_MAGIC: &[u8; 8] = b"KSOCKIN1";
/// magic, generation (u64), length (u32), index of the op running (u32).
const RECORD_HEADER: usize = 24;
/// No op of the recorded input has started yet.
const NO_OP: u32 = u32::MAX;

/// Writes `input` as the record in `mem` (the guest's shared memory), seqlock-style: the
/// generation is odd while the bytes change, so a record torn by a panic on another CPU is
/// refused by [`read_input_record`] rather than misread.
pub fn write_input_record(mem: &mut [u8], input: &[u8]) {
    use std::sync::atomic::{compiler_fence, Ordering};
    let n = input.len().min(mem.len() - RECORD_HEADER);
    let gen = u64::from_le_bytes(mem[8..16].try_into().expect("8 bytes"));
    // The next odd generation after the last record (even when complete, odd if torn).
    let odd = (gen + 1) | 1;
    mem[8..16].copy_from_slice(&odd.to_le_bytes());
    compiler_fence(Ordering::SeqCst);
    mem[..8].copy_from_slice(RECORD_MAGIC);
    mem[16..20].copy_from_slice(&(n as u32).to_le_bytes());
    mem[20..24].copy_from_slice(&NO_OP.to_le_bytes());
    mem[RECORD_HEADER..RECORD_HEADER + n].copy_from_slice(&input[..n]);
    compiler_fence(Ordering::SeqCst);
    mem[8..16].copy_from_slice(&(odd + 1).to_le_bytes());
}

/// Notes that op `i` of the recorded input starts (a panic then names the op).
pub fn write_op_index(mem: &mut [u8], i: usize) {
    mem[20..24].copy_from_slice(&(i as u32).to_le_bytes());
}

/// The op of the recorded input that started last, if one did.
pub fn read_op_index(mem: &[u8]) -> Option<usize> {
    read_input_record(mem)?;
    let i = u32::from_le_bytes(mem.get(20..24)?.try_into().ok()?);
    (i != NO_OP).then_some(i as usize)
}

/// The input last written with [`write_input_record`], unless none was or it is torn.
pub fn read_input_record(mem: &[u8]) -> Option<Vec<u8>> {
    if mem.len() < RECORD_HEADER || &mem[..8] != RECORD_MAGIC {
        return None;
    }
    let gen = u64::from_le_bytes(mem[8..16].try_into().ok()?);
    let n = u32::from_le_bytes(mem[16..20].try_into().ok()?) as usize;
    if gen == 0 || gen % 2 == 1 {
        return None;
    }
    mem.get(RECORD_HEADER..RECORD_HEADER + n)
        .map(<[u8]>::to_vec)
}

/// The input bytes a console line announces, if it is an [`INPUT_MARK`] line, and whether
/// they continue the previous line's.
pub fn parse_input_line(line: &str) -> Option<(bool, Vec<u8>)> {
    let rest = line.split_once(INPUT_MARK)?.1;
    let (more, hex) = match rest.strip_prefix('+') {
        Some(h) => (true, h.trim()),
        None => (false, rest.trim()),
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((more, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_survives_the_console() {
        let data = [0u8, 1, 0xfe, 0x41];
        let rec = input_records(&data);
        assert_eq!(rec, ["<0>KSOCK-INPUT 0001fe41\n"]);
        let console =
            |r: &str| format!("[   12.345678] {}", r.trim_start_matches("<0>").trim_end());
        assert_eq!(
            parse_input_line(&console(&rec[0])).unwrap(),
            (false, data.to_vec())
        );
        assert_eq!(parse_input_line("[ 1.0] KSOCK-INPUT 0"), None);
        // A long input takes several records; the host joins them.
        let long: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        let mut joined = Vec::new();
        for r in input_records(&long) {
            assert!(r.len() < 1000, "fits one log record");
            let (more, b) = parse_input_line(&console(&r)).unwrap();
            assert_eq!(more, !joined.is_empty());
            joined.extend(b);
        }
        assert_eq!(joined, long);
    }

    #[test]
    fn input_records_hold_the_last_input_and_refuse_torn_ones() {
        let mut mem = vec![0u8; 128];
        assert_eq!(read_input_record(&mem), None, "nothing written yet");
        write_input_record(&mut mem, b"first");
        write_op_index(&mut mem, 4);
        write_input_record(&mut mem, &[1, 2, 3]);
        assert_eq!(read_input_record(&mem), Some(vec![1, 2, 3]));
        assert_eq!(
            read_op_index(&mem),
            None,
            "a new input starts with no op running"
        );
        write_op_index(&mut mem, 2);
        assert_eq!(read_op_index(&mem), Some(2));
        write_input_record(&mut mem, &[7; 500]);
        assert_eq!(
            read_input_record(&mem),
            Some(vec![7; 128 - 24]),
            "cut to fit"
        );
        // A panic while the next record is half written: the generation is odd.
        mem[8] |= 1;
        assert_eq!(read_input_record(&mem), None);
        assert_eq!(parse_input_line("no mark"), None);
    }
}
