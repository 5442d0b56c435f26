//! What the daemon keeps resident once it has started.
//!
//! Much of the binary's 14 MB of code and constants runs only while starting: reading the
//! config, migrating the store, compiling templates and catalogs, building the matchers.
//! The kernel maps 64 KiB around every page touched (fault-around), so by the time the
//! first polls begin nearly all of it is resident and, being mapped, stays counted in the
//! daemon's memory, though part of it never runs again (docs/performance.md). The kernel
//! refuses writes to a running program's file, so the pages read back are the same.
//! [`release_start_code`] unmaps it once the daemon has started; what runs afterwards is
//! mapped again on first use, from the page cache, as at any start.

/// Unmaps the main program's read-only segments (code and constants). Nothing is lost:
/// those pages are never written, so a later access maps the file's unchanged contents
/// again. Writable segments, which the loader relocated, are left alone. Returns how many
/// bytes were released.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn release_start_code() -> usize {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    // SAFETY: the callback only reads the headers the loader hands it, and writes to the
    // vector passed as `data`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(read_only_segments),
            (&mut ranges as *mut Vec<(usize, usize)>).cast(),
        );
    }
    let page = page_size();
    ranges
        .into_iter()
        .map(|(start, end)| {
            // Whole pages inside the segment only: a page it shares with a writable
            // neighbour keeps that neighbour's relocated data.
            let start = start.div_ceil(page) * page;
            let end = end / page * page;
            if end <= start {
                return 0;
            }
            // SAFETY: the range lies within a read-only, file-backed segment of this
            // program; dropping its pages only makes the next access read them again.
            let done = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            if done == 0 {
                end - start
            } else {
                0
            }
        })
        .sum()
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn release_start_code() -> usize {
    0
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(1)
}

/// `dl_iterate_phdr`'s callback: the first object reported is the program itself; its
/// loadable segments that are not writable are pushed to `data`, and the walk stops.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
unsafe extern "C" fn read_only_segments(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes valid headers for the duration of the call, and `data` is
    // the vector `release_start_code` passed.
    let (info, ranges) = unsafe { (&*info, &mut *data.cast::<Vec<(usize, usize)>>()) };
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    for header in headers {
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_W == 0 {
            let start = (info.dlpi_addr + header.p_vaddr) as usize;
            ranges.push((start, start + header.p_memsz as usize));
        }
    }
    1
}

#[cfg(all(test, target_os = "linux", target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// This program's executable mapping: its address range and resident KiB, from
    /// /proc/self/smaps.
    fn code_mapping() -> (usize, usize, u64) {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_string_lossy().into_owned();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines();
        while let Some(line) = lines.next() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let is_code = fields.get(1).is_some_and(|p| p.contains('x'))
                && fields.last().is_some_and(|path| *path == exe);
            if !is_code {
                continue;
            }
            let (start, end) = fields[0].split_once('-').unwrap();
            let range = (
                usize::from_str_radix(start, 16).unwrap(),
                usize::from_str_radix(end, 16).unwrap(),
            );
            let rss = lines.find_map(|l| l.strip_prefix("Rss:")).unwrap();
            let kib = rss.trim().trim_end_matches("kB").trim().parse().unwrap();
            return (range.0, range.1, kib);
        }
        panic!("no executable mapping of {exe}");
    }

    const ALONE: &str = "OUTCRY_TEST_RESIDENT_ALONE";

    #[test]
    fn start_code_is_released_and_runs_again_when_needed() {
        if std::env::var_os(ALONE).is_none() {
            // In a process of its own: tests running beside it would map code again.
            let name = "resident::tests::start_code_is_released_and_runs_again_when_needed";
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1"])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        let (start, end, _) = code_mapping();
        // Every page read, as a start touches nearly all of the daemon's code.
        let page = page_size();
        for address in (start..end).step_by(page) {
            // SAFETY: inside this program's own readable code mapping.
            unsafe { std::ptr::read_volatile(address as *const u8) };
        }
        let (_, _, before) = code_mapping();
        assert!(
            before * 1024 >= (end - start) as u64 * 9 / 10,
            "{before} KiB resident"
        );
        let released = release_start_code();
        assert!(
            released >= end - start - 2 * page,
            "released {released} bytes"
        );
        let (_, _, after) = code_mapping();
        assert!(
            after * 4 < before,
            "code resident before {before} KiB, after {after} KiB"
        );
        // Code that ran before runs again, mapped anew.
        assert_eq!(crate::normalize::fold("ＡＢＣ　測試"), "abc 测试");
    }
}
