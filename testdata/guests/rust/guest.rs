//! donjon's Rust test guest: one program whose first argument picks a check
//! of the WASI preview 1 system it runs on. A single-file crate using std
//! only, built with Debian's compiler:
//!
//!     /usr/bin/rustc --target wasm32-wasi -O guest.rs -o guest.wasm
//!
//! Output protocol (shared with the Go and C guests, see ../README.md):
//! "ok CHECK" per passed check, "info ..." for values, "FAIL CHECK: why"
//! then exit 1 on the first mismatch, and "done SUBCOMMAND" at the end of a
//! check run. Usage errors exit 64.
//!
//! Rust 1.63's std has no stable symlink, set-times, positional I/O or
//! inode access on WASI, so those go through raw imports (module `wasi`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::wasi::io::AsRawFd;
use std::process::exit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: guest SUBCOMMAND [ARGS]
  args              print argv as a JSON array
  env               print the environment, sorted, as a JSON array
  fs DIR [nolinks]  file and directory checks inside DIR; nolinks: links must fail (EPERM)
  escape DIR        try to leave DIR (preopen root): refused/ESCAPED NAME
  clock [UNIXSEC]   realtime (near UNIXSEC if given), monotonic, resolution
  random            two 64-byte random reads differ and are not all zero
  sleep MS          std::thread::sleep, checks at least MS elapsed
  cat               copy stdin to stdout
  exit N            exit with code N
  trap              std::process::abort(): the wasm unreachable instruction
  alloc-forever     allocate and touch 1 MiB blocks until stopped or refused
  loop-forever      compute without host calls until stopped";

/// Raw WASI preview 1 imports, for what std does not offer on Rust 1.63.
mod wasi {
    #[repr(C)]
    pub struct Iovec {
        pub buf: *const u8,
        pub len: usize,
    }

    #[repr(C)]
    #[derive(Default, Debug)]
    pub struct Filestat {
        pub dev: u64,
        pub ino: u64,
        pub filetype: u8,
        pub nlink: u64,
        pub size: u64,
        pub atim: u64,
        pub mtim: u64,
        pub ctim: u64,
    }

    pub const LOOKUP_SYMLINK_FOLLOW: u32 = 1;
    pub const FST_ATIM: u32 = 1;
    pub const FST_MTIM: u32 = 4;
    pub const FST_MTIM_NOW: u32 = 8;
    pub const FILETYPE_REGULAR: u8 = 4;
    pub const FILETYPE_SYMLINK: u8 = 7;
    pub const OFLAGS_DIRECTORY: u32 = 2;
    pub const ERRNO_INVAL: i32 = 28;
    pub const ERRNO_NOENT: i32 = 44;
    pub const ERRNO_NOTDIR: i32 = 54;
    pub const ERRNO_PERM: i32 = 63;
    pub const ERRNO_NOTEMPTY: i32 = 55;

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn random_get(buf: *mut u8, len: usize) -> u16;
        pub fn clock_res_get(id: u32, out: *mut u64) -> u16;
        pub fn fd_pread(fd: u32, iovs: *const Iovec, n: usize, offset: u64, nread: *mut usize) -> u16;
        pub fn fd_pwrite(fd: u32, iovs: *const Iovec, n: usize, offset: u64, nwritten: *mut usize) -> u16;
        pub fn fd_filestat_get(fd: u32, out: *mut Filestat) -> u16;
        pub fn fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, flags: u32) -> u16;
        pub fn path_filestat_get(fd: u32, flags: u32, path: *const u8, len: usize, out: *mut Filestat) -> u16;
        pub fn path_filestat_set_times(
            fd: u32,
            flags: u32,
            path: *const u8,
            len: usize,
            atim: u64,
            mtim: u64,
            fst: u32,
        ) -> u16;
        pub fn path_symlink(old: *const u8, old_len: usize, fd: u32, new: *const u8, new_len: usize) -> u16;
        pub fn path_open(
            fd: u32,
            dirflags: u32,
            path: *const u8,
            len: usize,
            oflags: u32,
            base: u64,
            inheriting: u64,
            fdflags: u32,
            opened: *mut u32,
        ) -> u16;
        pub fn fd_close(fd: u32) -> u16;
        pub fn fd_prestat_get(fd: u32, out: *mut Prestat) -> u16;
        pub fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
    }

    #[repr(C)]
    #[derive(Default)]
    pub struct Prestat {
        pub tag: u8,
        pub name_len: usize,
    }

    /// open_dir opens the directory at the absolute guest path with every
    /// right. std's File::open gives a directory only the rights of a file
    /// (no path_* rights), which a runtime that enforces rights refuses for
    /// the raw path_* calls made relative to it.
    pub fn open_dir(path: &str) -> Result<u32, u16> {
        let (preopen, rel) = find_preopen(path).ok_or(44u16)?; // NOENT
        let mut fd = 0;
        let all = u64::MAX >> 35; // the 29 rights of preview 1
        // But fd_write, fd_allocate and fd_filestat_set_size: those ask to
        // open for writing, and a directory is not written.
        let base = all & !((1 << 6) | (1 << 8) | (1 << 22));
        let rel = if rel.is_empty() { "." } else { rel.as_str() };
        result(unsafe {
            path_open(preopen, LOOKUP_SYMLINK_FOLLOW, rel.as_ptr(), rel.len(), OFLAGS_DIRECTORY, base, all, 0, &mut fd)
        })?;
        Ok(fd)
    }

    /// find_preopen returns the preopened directory with the longest name
    /// that is a prefix of path, and the rest of the path.
    fn find_preopen(path: &str) -> Option<(u32, String)> {
        let mut best: Option<(u32, String)> = None;
        for fd in 3u32.. {
            let mut ps = Prestat::default();
            if unsafe { fd_prestat_get(fd, &mut ps) } != 0 {
                break;
            }
            let mut name = vec![0u8; ps.name_len];
            if ps.tag != 0 || unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()) } != 0 {
                continue;
            }
            let name = String::from_utf8_lossy(&name).trim_end_matches('/').to_string();
            let rest = if name.is_empty() {
                path.trim_start_matches('/')
            } else if path == name {
                ""
            } else if let Some(rest) = path.strip_prefix(&format!("{}/", name)) {
                rest
            } else {
                continue;
            };
            if best.as_ref().map_or(true, |(_, r)| rest.len() < r.len()) {
                best = Some((fd, rest.trim_start_matches('/').to_string()));
            }
        }
        best
    }

    /// Dir is a directory fd from open_dir, closed on drop.
    pub struct Dir(pub u32);

    impl Drop for Dir {
        fn drop(&mut self) {
            unsafe { fd_close(self.0) };
        }
    }

    fn result(errno: u16) -> Result<(), u16> {
        if errno == 0 {
            Ok(())
        } else {
            Err(errno)
        }
    }

    pub fn fstat(fd: u32) -> Result<Filestat, u16> {
        let mut st = Filestat::default();
        result(unsafe { fd_filestat_get(fd, &mut st) })?;
        Ok(st)
    }

    pub fn stat_at(dir: u32, path: &str, follow: bool) -> Result<Filestat, u16> {
        let mut st = Filestat::default();
        let flags = if follow { LOOKUP_SYMLINK_FOLLOW } else { 0 };
        result(unsafe { path_filestat_get(dir, flags, path.as_ptr(), path.len(), &mut st) })?;
        Ok(st)
    }

    pub fn set_times_at(dir: u32, path: &str, atim: u64, mtim: u64, fst: u32) -> Result<(), u16> {
        result(unsafe { path_filestat_set_times(dir, LOOKUP_SYMLINK_FOLLOW, path.as_ptr(), path.len(), atim, mtim, fst) })
    }

    pub fn set_times(fd: u32, atim: u64, mtim: u64, fst: u32) -> Result<(), u16> {
        result(unsafe { fd_filestat_set_times(fd, atim, mtim, fst) })
    }

    pub fn symlink_at(target: &str, dir: u32, link: &str) -> Result<(), u16> {
        result(unsafe { path_symlink(target.as_ptr(), target.len(), dir, link.as_ptr(), link.len()) })
    }

    pub fn pread(fd: u32, buf: &mut [u8], offset: u64) -> Result<usize, u16> {
        let iov = Iovec { buf: buf.as_mut_ptr(), len: buf.len() };
        let mut n = 0;
        result(unsafe { fd_pread(fd, &iov, 1, offset, &mut n) })?;
        Ok(n)
    }

    pub fn pwrite(fd: u32, buf: &[u8], offset: u64) -> Result<usize, u16> {
        let iov = Iovec { buf: buf.as_ptr(), len: buf.len() };
        let mut n = 0;
        result(unsafe { fd_pwrite(fd, &iov, 1, offset, &mut n) })?;
        Ok(n)
    }

    /// open_at opens path relative to dir read-only, handing the path to the
    /// host unchanged, and closes it again.
    pub fn open_at(dir: u32, path: &str, oflags: u32) -> Result<(), u16> {
        let mut fd = 0;
        // fd_read | fd_readdir | path_filestat_get ...: reading rights only.
        let rights: u64 = (1 << 1) | (1 << 14) | (1 << 18);
        result(unsafe {
            path_open(dir, LOOKUP_SYMLINK_FOLLOW, path.as_ptr(), path.len(), oflags, rights, rights, 0, &mut fd)
        })?;
        unsafe { fd_close(fd) };
        Ok(())
    }

    pub fn random(buf: &mut [u8]) -> Result<(), u16> {
        result(unsafe { random_get(buf.as_mut_ptr(), buf.len()) })
    }

    pub fn clock_res(id: u32) -> Result<u64, u16> {
        let mut res = 0;
        result(unsafe { clock_res_get(id, &mut res) })?;
        Ok(res)
    }
}

fn ok(check: &str) {
    println!("ok {}", check);
}

fn done(subcommand: &str) {
    println!("done {}", subcommand);
}

/// fail reports a failed check and ends the program: later checks build on
/// earlier ones, so going on would only add noise.
fn fail(check: &str, why: String) -> ! {
    println!("FAIL {}: {}", check, why);
    let _ = io::stdout().flush();
    exit(1);
}

fn check(name: &str, cond: bool, why: impl FnOnce() -> String) {
    if !cond {
        fail(name, why());
    }
}

/// Unwraps a result, failing the check with the error.
trait Must<T> {
    fn must(self, check: &str) -> T;
}

impl<T, E: std::fmt::Debug> Must<T> for Result<T, E> {
    fn must(self, check: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => fail(check, format!("error {:?}", e)),
        }
    }
}

fn usage_exit() -> ! {
    eprintln!("{}", USAGE);
    exit(64);
}

fn int_arg(args: &[String], i: usize) -> i64 {
    match args.get(i).map(|s| s.parse::<i64>()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("not an integer: {:?}", args[i]);
            exit(64)
        }
        None => usage_exit(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        usage_exit();
    }
    let dir = || args.get(2).cloned().unwrap_or_else(|| usage_exit());
    match args[1].as_str() {
        "args" => println!("{}", json_array(&args)),
        "env" => print_env(),
        "fs" => {
            let links = match args.get(3).map(|s| s.as_str()) {
                None => true,
                Some("nolinks") if args.len() == 4 => false,
                _ => usage_exit(),
            };
            run_fs(&dir(), links)
        }
        "escape" => exit(run_escape(&dir())),
        "clock" => run_clock(args.get(2).map(|_| int_arg(&args, 2))),
        "random" => run_random(),
        "sleep" => run_sleep(int_arg(&args, 2)),
        "cat" => {
            if let Err(e) = io::copy(&mut io::stdin().lock(), &mut io::stdout().lock()) {
                eprintln!("cat: {}", e);
                exit(1);
            }
        }
        "exit" => exit(int_arg(&args, 2) as i32),
        "trap" => {
            println!("trapping");
            let _ = io::stdout().flush();
            std::process::abort();
        }
        "alloc-forever" => alloc_forever(),
        "loop-forever" => loop_forever(),
        _ => usage_exit(),
    }
}

// ---- args and env ----

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_array(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", parts.join(","))
}

fn print_env() {
    let mut env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    env.sort();
    println!("{}", json_array(&env));
}

// ---- files and directories ----

const GREETING: &str = "hello, donjon\n";

fn expect_content(check_name: &str, path: &str, want: &[u8]) {
    let got = fs::read(path).must(check_name);
    check(check_name, got == want, || format!("{} holds {:?}, want {:?}", path, String::from_utf8_lossy(&got), String::from_utf8_lossy(want)));
}

fn fd_of(f: &File) -> u32 {
    f.as_raw_fd() as u32
}

/// run_fs runs the file checks in a fresh DIR/fs.rust.work. Without links
/// ("fs DIR nolinks", for a directory that refuses links, as a sealed one
/// does) the link checks expect EPERM and no other check makes a link.
fn run_fs(dir: &str, links: bool) {
    let w = format!("{}/fs.rust.work", dir);
    // A failed earlier run may have left its work directory behind.
    let _ = fs::remove_dir_all(&w);
    let a = format!("{}/a.txt", w);
    let b = format!("{}/b.txt", w);
    let c = format!("{}/c.txt", w);
    let l = format!("{}/l", w);
    // The work directory, opened, anchors the raw path_* calls.
    fs::create_dir(&w).must("mkdir");
    check("mkdir", fs::metadata(&w).must("mkdir").is_dir(), || "not a directory".into());
    let wdir = wasi::Dir(wasi::open_dir(&w).must("mkdir"));
    let wfd = wdir.0;
    ok("mkdir");

    let mut f = OpenOptions::new().write(true).create_new(true).open(&a).must("create-write");
    let parts = [IoSlice::new(GREETING[..7].as_bytes()), IoSlice::new(GREETING[7..].as_bytes())];
    let n = f.write_vectored(&parts).must("create-write");
    if n < GREETING.len() {
        f.write_all(&GREETING.as_bytes()[n..]).must("create-write");
    }
    drop(f);
    ok("create-write");

    let md = fs::metadata(&a).must("stat");
    check("stat", md.is_file() && md.len() == 14, || format!("{:?}", md));
    ok("stat");

    let mut f = File::open(&a).must("read");
    let mut s = String::new();
    f.read_to_string(&mut s).must("read");
    check("read", s == GREETING, || format!("read {:?}", s));
    ok("read");

    let fst = wasi::fstat(fd_of(&f)).must("fstat");
    let pst = wasi::stat_at(wfd, "a.txt", true).must("fstat");
    check("fstat", fst.filetype == wasi::FILETYPE_REGULAR && fst.size == 14, || format!("{:?}", fst));
    check("fstat", fst.ino == pst.ino && fst.dev == pst.dev, || format!("fstat {:?} vs stat {:?}", fst, pst));
    ok("fstat");
    drop(f);

    check_seek(&a);
    check_pread_pwrite(&a);
    check_append(&a);
    check_truncate(&a);
    check_two_fds(&w);

    fs::rename(&a, &b).must("rename");
    check("rename", fs::metadata(&a).map_err(|e| e.kind()).err() == Some(io::ErrorKind::NotFound), || "old name still there".into());
    expect_content("rename", &b, b"hello\0\0\0\0\0");
    fs::write(&a, "replacement").must("rename");
    fs::rename(&a, &b).must("rename"); // onto an existing file: replaces it
    expect_content("rename", &b, b"replacement");
    ok("rename");

    if links {
        check_links(wfd, &b, &c, &l);
    } else {
        check_links_refused(wfd, &w, &b);
    }

    wasi::set_times_at(wfd, "b.txt", 1_000_000_000_000_000_000, 1_500_000_000_123_456_789, wasi::FST_ATIM | wasi::FST_MTIM)
        .must("set-times");
    let st = wasi::stat_at(wfd, "b.txt", true).must("set-times");
    check("set-times", st.atim == 1_000_000_000_000_000_000 && st.mtim == 1_500_000_000_123_456_789, || format!("{:?}", st));
    let f = OpenOptions::new().write(true).open(&b).must("set-times");
    wasi::set_times(fd_of(&f), 0, 2_000_000_000_000_000_000, wasi::FST_MTIM).must("set-times");
    let st = wasi::fstat(fd_of(&f)).must("set-times");
    check("set-times", st.mtim == 2_000_000_000_000_000_000 && st.atim == 1_000_000_000_000_000_000, || format!("after fd set: {:?}", st));
    wasi::set_times(fd_of(&f), 0, 0, wasi::FST_MTIM_NOW).must("set-times");
    let st = wasi::fstat(fd_of(&f)).must("set-times");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).must("set-times").as_nanos() as i128;
    let skew = st.mtim as i128 - now;
    check("set-times", skew.abs() < 86_400_000_000_000, || format!("MTIM_NOW set {}, clock says {}", st.mtim, now));
    drop(f);
    ok("set-times");

    let mut f = OpenOptions::new().write(true).open(&b).must("fsync");
    f.write_all(b"synced").must("fsync");
    f.sync_all().must("fsync");
    f.sync_data().must("fsync");
    drop(f);
    ok("fsync");

    check_readdir(&w, links);
    check_errors(&w, &b);

    for p in [&b, &c, &l] {
        let r = fs::remove_file(p);
        if !links && p != &b {
            // Never created: the directory refused the link.
            let e = r.err().and_then(|e| e.raw_os_error());
            check("unlink", e == Some(wasi::ERRNO_NOENT), || format!("remove {}, which was never created: {:?}", p, e));
            continue;
        }
        r.must("unlink");
        check("unlink", fs::symlink_metadata(p).is_err(), || format!("{} still there", p));
    }
    ok("unlink");

    drop(wdir);
    fs::remove_dir(&w).must("rmdir");
    check("rmdir", fs::metadata(&w).is_err(), || format!("{} still there", w));
    ok("rmdir");
    done("fs");
}

/// check_links makes c a hard link and l a symbolic link to b.
fn check_links(wfd: u32, b: &str, c: &str, l: &str) {
    fs::hard_link(b, c).must("hardlink");
    let st = wasi::stat_at(wfd, "b.txt", true).must("hardlink");
    check("hardlink", st.nlink == 2, || format!("link count {}, want 2", st.nlink));
    fs::write(c, "shared").must("hardlink");
    expect_content("hardlink", b, b"shared");
    ok("hardlink");

    wasi::symlink_at("b.txt", wfd, "l").must("symlink");
    let target = fs::read_link(l).must("symlink");
    check("symlink", target.to_str() == Some("b.txt"), || format!("readlink {:?}", target));
    check("symlink", fs::symlink_metadata(l).must("symlink").file_type().is_symlink(), || "lstat: not a symlink".into());
    let st = wasi::stat_at(wfd, "l", false).must("symlink");
    check("symlink", st.filetype == wasi::FILETYPE_SYMLINK, || format!("no-follow filetype {}", st.filetype));
    expect_content("symlink", l, b"shared");
    ok("symlink");
}

/// check_links_refused checks that neither a hard link c.txt nor a symbolic
/// link l to b can be made in w, and leaves b as check_links would.
fn check_links_refused(wfd: u32, w: &str, b: &str) {
    let errno = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error());
    let e = errno(fs::hard_link(b, format!("{}/c.txt", w)));
    check("hardlink-refused", e == Some(wasi::ERRNO_PERM), || format!("link: {:?}, want EPERM ({})", e, wasi::ERRNO_PERM));
    let e = wasi::stat_at(wfd, "c.txt", false).err();
    check("hardlink-refused", e == Some(wasi::ERRNO_NOENT as u16), || format!("after a refused link: {:?}, want ENOENT", e));
    let st = wasi::stat_at(wfd, "b.txt", true).must("hardlink-refused");
    check("hardlink-refused", st.nlink == 1, || format!("link count {} after a refused link, want 1", st.nlink));
    fs::write(b, "shared").must("hardlink-refused");
    ok("hardlink-refused");

    let e = wasi::symlink_at("b.txt", wfd, "l").err();
    check("symlink-refused", e == Some(wasi::ERRNO_PERM as u16), || format!("symlink: {:?}, want EPERM", e));
    let e = wasi::stat_at(wfd, "l", false).err();
    check("symlink-refused", e == Some(wasi::ERRNO_NOENT as u16), || format!("after a refused symlink: {:?}, want ENOENT", e));
    // Nothing is a link, so reading one is EINVAL, as for any plain file.
    for p in [b, w] {
        let e = fs::read_link(p).err().and_then(|e| e.raw_os_error());
        check("symlink-refused", e == Some(wasi::ERRNO_INVAL), || format!("readlink {}: {:?}, want EINVAL", p, e));
    }
    let st = wasi::stat_at(wfd, "b.txt", false).must("symlink-refused");
    check("symlink-refused", st.filetype == wasi::FILETYPE_REGULAR && st.size == 6, || format!("{:?}", st));
    ok("symlink-refused");
}

/// check_two_fds checks that two descriptors of one file see each other's
/// changes at once: writes, a truncate and an append, with fstat sizes that
/// agree.
fn check_two_fds(w: &str) {
    const CHECK: &str = "two-fds";
    let t = format!("{}/t.txt", w);
    let mut f1 = OpenOptions::new().read(true).append(true).create_new(true).open(&t).must(CHECK);
    let mut f2 = OpenOptions::new().read(true).write(true).open(&t).must(CHECK);
    let expect_at = |which: &str, f: &File, want: &[u8]| {
        let mut buf = [0u8; 64];
        let n = wasi::pread(fd_of(f), &mut buf, 0).must(CHECK);
        check(CHECK, &buf[..n] == want, || {
            format!("pread through the {} descriptor: {:?}, want {:?}", which, String::from_utf8_lossy(&buf[..n]), String::from_utf8_lossy(want))
        });
    };
    let same_size = |f1: &File, f2: &File, want: u64| {
        let (s1, s2) = (wasi::fstat(fd_of(f1)).must(CHECK).size, wasi::fstat(fd_of(f2)).must(CHECK).size);
        check(CHECK, s1 == want && s2 == want, || format!("fstat sizes {} and {}, want {}", s1, s2, want));
    };

    f1.write_all(b"written by one\n").must(CHECK);
    // A sequential read from the second descriptor's own offset.
    let mut buf = [0u8; 64];
    let n = f2.read(&mut buf).must(CHECK);
    check(CHECK, &buf[..n] == b"written by one\n", || format!("read through the second descriptor: {:?}", String::from_utf8_lossy(&buf[..n])));
    same_size(&f1, &f2, 15);

    f2.write_all(b"TWO").must(CHECK);
    expect_at("first", &f1, b"written by one\nTWO");
    same_size(&f1, &f2, 18);

    f2.set_len(7).must(CHECK);
    expect_at("first", &f1, b"written");
    same_size(&f1, &f2, 7);

    // Appending goes to the end the other descriptor's truncate left.
    f1.write_all(b" twice").must(CHECK);
    expect_at("second", &f2, b"written twice");
    same_size(&f1, &f2, 13);

    drop(f1);
    drop(f2);
    expect_content(CHECK, &t, b"written twice");
    fs::remove_file(&t).must(CHECK);
    ok(CHECK);
}

fn check_seek(a: &str) {
    let mut f = File::open(a).must("seek");
    check("seek", f.seek(SeekFrom::Start(7)).must("seek") == 7, || "seek to 7".into());
    let mut buf = [0u8; 6];
    f.read_exact(&mut buf).must("seek");
    check("seek", &buf == b"donjon", || format!("read at 7: {:?}", buf));
    check("seek", f.seek(SeekFrom::Current(0)).must("seek") == 13, || "current position is not 13".into());
    check("seek", f.seek(SeekFrom::End(-1)).must("seek") == 13, || "end-1 is not 13".into());
    f.read_exact(&mut buf[..1]).must("seek");
    check("seek", buf[0] == b'\n', || "read at end-1".into());
    f.seek(SeekFrom::Start(100)).must("seek");
    check("seek", f.read(&mut buf).must("seek") == 0, || "read past the end is not EOF".into());
    check("seek", f.seek(SeekFrom::Current(-1000)).is_err(), || "seek to a negative offset succeeded".into());
    ok("seek");
}

fn check_pread_pwrite(a: &str) {
    let mut f = OpenOptions::new().read(true).write(true).open(a).must("pread-pwrite");
    let fd = fd_of(&f);
    check("pread-pwrite", wasi::pwrite(fd, b"DONJON", 7).must("pread-pwrite") == 6, || "short pwrite".into());
    let mut buf = [0u8; 6];
    check("pread-pwrite", wasi::pread(fd, &mut buf, 7).must("pread-pwrite") == 6 && &buf == b"DONJON", || format!("pread {:?}", buf));
    // Positional I/O must leave the file offset alone.
    let pos = f.seek(SeekFrom::Current(0)).must("pread-pwrite");
    check("pread-pwrite", pos == 0, || format!("offset moved to {}", pos));
    drop(f);
    expect_content("pread-pwrite", a, b"hello, DONJON\n");
    ok("pread-pwrite");
}

fn check_append(a: &str) {
    let mut f = OpenOptions::new().append(true).open(a).must("append");
    f.write_all(b"mo").must("append");
    // With append every write goes to the end, wherever the offset is.
    f.seek(SeekFrom::Start(0)).must("append");
    f.write_all(b"re\n").must("append");
    drop(f);
    expect_content("append", a, b"hello, DONJON\nmore\n");
    ok("append");
}

fn check_truncate(a: &str) {
    let f = OpenOptions::new().read(true).write(true).open(a).must("truncate");
    f.set_len(5).must("truncate");
    expect_content("truncate", a, b"hello");
    f.set_len(10).must("truncate");
    expect_content("truncate", a, b"hello\0\0\0\0\0");
    check("truncate", f.metadata().must("truncate").len() == 10, || "fstat size after extend is not 10".into());
    ok("truncate");
}

/// check_readdir lists a directory of many files, a subdirectory and, if
/// links, a symbolic link.
fn check_readdir(w: &str, links: bool) {
    let d = format!("{}/d", w);
    fs::create_dir(&d).must("readdir");
    // Enough entries, with long names, that a listing needs more than one
    // fd_readdir call and the cookie is exercised.
    let mut want: Vec<String> = (0..500).map(|i| format!("entry-{:04}-abcdefghijklmnopqrstuvwxyz0123456789", i)).collect();
    for name in &want {
        File::create(format!("{}/{}", d, name)).must("readdir");
    }
    fs::create_dir(format!("{}/sub", d)).must("readdir");
    let dfile = wasi::Dir(wasi::open_dir(&d).must("readdir"));
    if links {
        wasi::symlink_at("sub", dfile.0, "link").must("readdir");
        want.push("link".into());
    }
    want.push("sub".into());
    want.sort();
    let mut got = Vec::new();
    for e in fs::read_dir(&d).must("readdir") {
        let e = e.must("readdir");
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().must("readdir");
        let right = match name.as_str() {
            "sub" => ft.is_dir(),
            "link" => ft.is_symlink(),
            _ => ft.is_file(),
        };
        check("readdir", right, || format!("{} has type {:?}", name, ft));
        got.push(name);
    }
    got.sort();
    check("readdir", got == want, || format!("listed {} entries, want {}", got.len(), want.len()));
    ok("readdir");

    fs::remove_dir(format!("{}/sub", d)).must("rmdir-empty");
    for name in &want {
        if name != "sub" {
            fs::remove_file(format!("{}/{}", d, name)).must("rmdir-empty");
        }
    }
    drop(dfile);
    fs::remove_dir(&d).must("rmdir-empty");
    ok("rmdir-empty");
}

fn check_errors(w: &str, file: &str) {
    let kind = |r: io::Result<()>| r.err().map(|e| e.kind());
    let errno = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error());
    check("errors", kind(File::open(format!("{}/missing", w)).map(drop)) == Some(io::ErrorKind::NotFound), || "open of a missing file".into());
    check(
        "errors",
        kind(OpenOptions::new().write(true).create_new(true).open(file).map(drop)) == Some(io::ErrorKind::AlreadyExists),
        || "exclusive create of an existing file".into(),
    );
    check("errors", kind(fs::create_dir(w)) == Some(io::ErrorKind::AlreadyExists), || "mkdir of an existing directory".into());
    let full = format!("{}/full", w);
    fs::create_dir(&full).must("errors");
    fs::write(format!("{}/x", full), "").must("errors");
    let e = errno(fs::remove_dir(&full));
    check("errors", e == Some(wasi::ERRNO_NOTEMPTY), || format!("rmdir of a non-empty directory: {:?}", e));
    let e = errno(fs::remove_dir(file));
    check("errors", e == Some(wasi::ERRNO_NOTDIR), || format!("rmdir of a file: {:?}", e));
    check("errors", fs::remove_file(&full).is_err(), || "unlink of a directory succeeded".into());
    check("errors", fs::read_dir(file).is_err(), || "readdir of a file succeeded".into());
    fs::remove_file(format!("{}/x", full)).must("errors");
    fs::remove_dir(&full).must("errors");
    ok("errors");
}

// ---- escape attempts ----

/// run_escape tries to reach files outside dir, which must be the root of a
/// preopened directory, and returns 1 if any attempt succeeded.
fn run_escape(dir: &str) -> i32 {
    let d = wasi::Dir(wasi::open_dir(dir).unwrap_or_else(|e| fail("escape-setup", format!("open {}: errno {}", dir, e))));
    let dfd = d.0;
    let mut escaped = 0;
    let mut attempt = |name: &str, succeeded: bool| {
        if succeeded {
            println!("ESCAPED {}", name);
            escaped += 1;
        } else {
            println!("refused {}", name);
        }
    };
    attempt("dotdot", File::open(format!("{}/../../etc/passwd", dir)).is_ok());
    attempt("dotdot-openat", wasi::open_at(dfd, "../../etc/passwd", 0).is_ok());
    attempt("dotdot-dir-openat", wasi::open_at(dfd, "..", wasi::OFLAGS_DIRECTORY).is_ok());
    attempt("dotdot-stat", wasi::stat_at(dfd, "..", true).is_ok());
    attempt("absolute", File::open("/etc/passwd").is_ok());
    attempt("absolute-openat", wasi::open_at(dfd, "/etc/passwd", 0).is_ok());
    let links = [
        ("symlink-abs", "/etc", "passwd"),
        ("symlink-up", "../../", "etc/passwd"),
        ("symlink-deep", "../../../../../../../../../../../../../../../../etc", "passwd"),
    ];
    for (name, target, through) in links {
        let link = format!("escape-{}", name);
        let _ = fs::remove_file(format!("{}/{}", dir, link)); // left over from an earlier run
        if wasi::symlink_at(target, dfd, &link).is_err() {
            // Refusing to create a link that points out is a refusal too.
            attempt(&format!("{}-create", name), false);
            continue;
        }
        attempt(name, File::open(format!("{}/{}/{}", dir, link, through)).is_ok());
        attempt(&format!("{}-openat", name), wasi::open_at(dfd, &format!("{}/{}", link, through), 0).is_ok());
        attempt(&format!("{}-dir-openat", name), wasi::open_at(dfd, &link, wasi::OFLAGS_DIRECTORY).is_ok());
        attempt(&format!("{}-stat", name), wasi::stat_at(dfd, &format!("{}/{}", link, through), true).is_ok());
        fs::remove_file(format!("{}/{}", dir, link)).must("escape-cleanup");
    }
    if escaped > 0 {
        println!("FAIL escape: {} attempts escaped", escaped);
        return 1;
    }
    done("escape");
    0
}

// ---- clocks, randomness, sleeping ----

fn run_clock(host: Option<i64>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).must("realtime");
    let sec = now.as_secs() as i64;
    println!("info realtime {}.{:09}", sec, now.subsec_nanos());
    // 2020-01-01 .. 2100-01-01: catches a clock counting from zero or in the
    // wrong unit.
    check("realtime", sec > 1_577_836_800 && sec < 4_102_444_800, || format!("{} is not a plausible Unix time", sec));
    ok("realtime");
    if let Some(host) = host {
        let d = sec - host;
        check("realtime-host", d.abs() < 300, || format!("guest {}, host {}: {} s apart", sec, host, d));
        ok("realtime-host");
    }

    let start = Instant::now();
    let mut prev = Duration::ZERO;
    let mut advanced = false;
    for _ in 0..100_000_000u64 {
        let d = start.elapsed();
        check("monotonic", d >= prev, || format!("went back from {:?} to {:?}", prev, d));
        prev = d;
        if d > Duration::ZERO {
            advanced = true;
            break;
        }
    }
    check("monotonic", advanced, || "monotonic clock did not advance".into());
    ok("monotonic");

    let before = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    let slept = before.elapsed();
    check("monotonic-sleep", slept >= Duration::from_millis(2), || format!("slept 2 ms, clock moved {:?}", slept));
    ok("monotonic-sleep");

    for (name, id) in [("realtime", 0u32), ("monotonic", 1u32)] {
        let check_name = format!("clock-res-{}", name);
        let res = wasi::clock_res(id).must(&check_name);
        println!("info clock-res {} {} ns", name, res);
        check(&check_name, res > 0 && res <= 1_000_000_000, || format!("resolution {} ns is not in (0, 1 s]", res));
        ok(&check_name);
    }
    done("clock");
}

fn run_random() {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    wasi::random(&mut a).must("random-read");
    wasi::random(&mut b).must("random-read");
    ok("random-read");
    check("random-nonzero", a != [0u8; 64] && b != [0u8; 64], || "64 random bytes are all zero".into());
    ok("random-nonzero");
    check("random-differ", a != b, || "two random reads returned the same 64 bytes".into());
    ok("random-differ");
    let hex: String = a[..8].iter().map(|x| format!("{:02x}", x)).collect();
    println!("info random {}", hex);
    done("random");
}

fn run_sleep(ms: i64) {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(ms as u64));
    let elapsed = start.elapsed();
    println!("slept ms={}", elapsed.as_millis());
    check("sleep", elapsed >= Duration::from_millis(ms as u64), || format!("asked for {} ms, woke after {:?}", ms, elapsed));
    ok("sleep");
    done("sleep");
}

fn alloc_forever() {
    const BLOCK: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for mib in 1usize.. {
        let mut b = vec![0u8; BLOCK];
        // Touch every page so the memory is really committed.
        for i in (0..BLOCK).step_by(4096) {
            b[i] = mib as u8;
        }
        kept.push(b);
        if mib % 16 == 0 {
            println!("allocated {} MiB", kept.len());
        }
    }
}

fn loop_forever() {
    println!("looping");
    let _ = io::stdout().flush();
    let mut x: u64 = 1;
    loop {
        // Volatile, so the loop is not optimised away.
        unsafe {
            let v = std::ptr::read_volatile(&x);
            std::ptr::write_volatile(&mut x, v.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        }
    }
}
