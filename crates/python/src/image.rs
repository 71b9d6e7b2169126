//! The extension's own pages in the process: what `import liveimport`
//! leaves resident.
//!
//! The dynamic loader reads this library's symbol tables and relocations
//! once, at load, through its read-only segment, which also holds large
//! tables read rarely (Unicode character names, legacy codecs). On Linux
//! since 6.18 a fault in a file mapping maps the whole page-cache folio
//! holding the page when the folio lies inside one mapping, and a file that
//! pip has just written sits in the page cache in folios of up to 1 MiB (pip
//! copies a wheel's files in 1 MiB blocks). So the loader's first read could
//! map the whole first MiB of the library into the process, most of it
//! never used again: ~0.7 MiB of a kernel's resident memory.
//!
//! [`trim`], run once when the module initialises, splits each read-only
//! mapping of the library in two (a one-page `MADV_RANDOM` range in its
//! middle, so no large folio lies inside one mapping and a fault maps at
//! most the kernel's usual fault-around window), then drops the pages the
//! loader left mapped there (`MADV_DONTNEED`). The pages are clean copies of
//! the file: whatever is read again faults back in unchanged. Nothing is
//! done for a library with text relocations (its read-only pages may have
//! been written), and every failure is ignored: only memory is at stake.

/// Trim this library's read-only mappings (see the module's comment).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    linux::trim();
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod linux {
    use std::ffi::{c_int, c_void};

    /// An entry of the dynamic section (`Elf64_Dyn`).
    #[repr(C)]
    struct Dyn {
        tag: i64,
        value: u64,
    }

    const DT_TEXTREL: i64 = 22;
    const DT_FLAGS: i64 = 30;
    const DF_TEXTREL: u64 = 0x4;

    pub fn trim() {
        // An address inside this library: the function itself.
        let mut inside = trim as *const () as usize;
        // SAFETY: the callback only reads the program headers the loader
        // passes it, and `inside` outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut inside).cast()) };
    }

    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: `info` is valid for the call; `data` is the `usize` above.
        let (info, inside) = unsafe { (&*info, *data.cast::<usize>()) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: the loader gives `dlpi_phnum` headers at `dlpi_phdr`.
        // Copied: they may lie in a page about to be dropped.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }.to_vec();
        let base = info.dlpi_addr as usize;
        let span = |h: &libc::Elf64_Phdr| {
            let start = base.wrapping_add(h.p_vaddr as usize);
            (start, start.wrapping_add(h.p_memsz as usize))
        };
        let ours = headers.iter().any(|h| {
            let (start, end) = span(h);
            h.p_type == libc::PT_LOAD && (start..end).contains(&inside)
        });
        if !ours {
            return 0;
        }
        // SAFETY: the dynamic section of a loaded object is mapped.
        if headers.iter().any(|h| h.p_type == libc::PT_DYNAMIC && unsafe { has_text_relocations(span(h).0) })
        {
            return 1;
        }
        // SAFETY: sysconf only reads a configuration value.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
            let (start, _) = span(h);
            // Whole pages of the segment's file contents only: a page it
            // shares with a neighbouring segment is left alone.
            let first = start.div_ceil(page) * page;
            let last = start.wrapping_add(h.p_filesz as usize) / page * page;
            if last <= first || (last - first) / page < 3 {
                continue;
            }
            let middle = first + (last - first) / page / 2 * page;
            // SAFETY: these pages are this library's read-only, unmodified
            // file pages (no text relocations): dropping them from the
            // process only means reading them from the page cache again.
            unsafe {
                libc::madvise(middle as *mut c_void, page, libc::MADV_RANDOM);
                libc::madvise(first as *mut c_void, last - first, libc::MADV_DONTNEED);
            }
        }
        1
    }

    /// Whether the dynamic section at `dynamic` asks for text relocations.
    ///
    /// # Safety
    /// `dynamic` must point to a loaded object's `PT_DYNAMIC` contents.
    unsafe fn has_text_relocations(dynamic: usize) -> bool {
        let mut entry = dynamic as *const Dyn;
        loop {
            // SAFETY: the section ends with a DT_NULL entry.
            let d = unsafe { &*entry };
            match d.tag {
                0 => return false,
                DT_TEXTREL => return true,
                DT_FLAGS if d.value & DF_TEXTREL != 0 => return true,
                _ => {}
            }
            // SAFETY: not past DT_NULL yet.
            entry = unsafe { entry.add(1) };
        }
    }
}
