//! Compile once per digest. The artefact `<cache_dir>/<sha256>-<engine>.cwasm`
//! is keyed by the component's digest and by a hash of wasmtime's version and
//! the engine's compile settings; a hit is memory-mapped, a miss verifies the
//! component's digest, compiles it, and writes the artefact atomically.
//! Hosts starting the same digest at once (a job's instances placed together)
//! take turns on a lock file, so one compiles and the others load its artefact.

use crate::error::{Code, HostError};
use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Feeds `Hash` output into SHA-256, for a key that is stable across runs.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the full digest is read")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// 16 hex digits naming wasmtime's version and the engine's compile settings.
pub fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(b"wasmtime ");
    hasher.write(wasmtime_version().as_bytes());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize()[..8])
}

fn wasmtime_version() -> &'static str {
    // Cargo.toml pins the wasmtime crates to this exact version.
    "48.0.8"
}

pub fn artefact_path(cache_dir: &Path, sha256: &str, engine: &Engine) -> PathBuf {
    cache_dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

pub struct Loaded {
    pub component: Component,
    /// True when the artefact was already there.
    pub cached: bool,
    pub artefact: PathBuf,
}

/// Loads the compiled component for `sha256`, compiling `source` on a miss.
pub fn load_or_compile(
    engine: &Engine,
    source: &Path,
    sha256: &str,
    cache_dir: &Path,
) -> Result<Loaded, HostError> {
    let artefact = artefact_path(cache_dir, sha256, engine);
    if let Some(component) = load_cached(engine, &artefact) {
        return Ok(Loaded { component, cached: true, artefact });
    }
    fs::create_dir_all(cache_dir).map_err(|err| {
        HostError::config(format!("cannot create cache dir {}: {err}", cache_dir.display()))
    })?;
    let _turn = CompileLock::acquire(&artefact)
        .map_err(|err| HostError::config(format!("cannot lock {}.lock: {err}", artefact.display())))?;
    // Another host may have compiled it while we waited for our turn.
    if let Some(component) = load_cached(engine, &artefact) {
        return Ok(Loaded { component, cached: true, artefact });
    }
    let bytes = fs::read(source)
        .map_err(|err| HostError::config(format!("cannot read component {}: {err}", source.display())))?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(HostError::new(
            Code::ComponentDigest,
            format!(
                "component {} has sha256 {actual}, but the task config expects {sha256}; refusing to run it",
                source.display()
            ),
        ));
    }
    let compiled = engine.precompile_component(&bytes).map_err(|err| {
        HostError::new(
            Code::ComponentCompile,
            format!("component {} is not a valid WebAssembly component: {err:#}", source.display()),
        )
    })?;
    drop(bytes);
    write_atomically(&artefact, &compiled)
        .map_err(|err| HostError::config(format!("cannot write {}: {err}", artefact.display())))?;

    // SAFETY: as above; this file was written by us from `precompile_component`.
    let component = unsafe { Component::deserialize_file(engine, &artefact) }.map_err(|err| {
        HostError::new(Code::ComponentCompile, format!("cannot load {}: {err:#}", artefact.display()))
    })?;
    Ok(Loaded { component, cached: false, artefact })
}

/// The artefact, memory-mapped, when a usable one is in the cache.
fn load_cached(engine: &Engine, artefact: &Path) -> Option<Component> {
    if !artefact.exists() {
        return None;
    }
    // SAFETY: the cache dir belongs to this host; only `write_atomically`
    // below puts files there, so each is a whole artefact that wasmtime
    // produced for this engine key.
    match unsafe { Component::deserialize_file(engine, artefact) } {
        Ok(component) => Some(component),
        Err(err) => {
            eprintln!(
                "lean-wasm-host: cached artefact {} is unusable ({err:#}); compiling again",
                artefact.display()
            );
            None
        }
    }
}

/// An exclusive `flock` on `<artefact>.lock`, released when dropped (the file closes).
struct CompileLock {
    _held: fs::File,
}

impl CompileLock {
    fn acquire(artefact: &Path) -> std::io::Result<CompileLock> {
        let mut path = artefact.as_os_str().to_owned();
        path.push(".lock");
        let file =
            fs::OpenOptions::new().create(true).truncate(false).write(true).open(PathBuf::from(path))?;
        loop {
            // SAFETY: flock on a descriptor this function owns; it touches no memory.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(CompileLock { _held: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// Writes `bytes` to a private file beside `path`, then renames it into place:
/// readers see the whole artefact or none, also when two hosts race.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("artefact");
    let scratch = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&scratch)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&scratch, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&scratch);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineLimits, build};

    /// The smallest valid component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn engine(instances: u32) -> Engine {
        build(EngineLimits { instances, instance_memory_bytes: 16 << 20 }).unwrap()
    }

    fn component_file(dir: &Path, bytes: &[u8]) -> (PathBuf, String) {
        let file = dir.join("c.wasm");
        fs::write(&file, bytes).unwrap();
        (file, sha256_hex(bytes))
    }

    #[test]
    fn the_key_is_stable_and_follows_the_engine_config() {
        let a = engine(4);
        assert_eq!(engine_key(&a), engine_key(&engine(4)), "same config, same key");
        assert_eq!(engine_key(&a).len(), 16);
        let other = Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap();
        assert_ne!(engine_key(&a), engine_key(&other), "another config compiles differently");
    }

    #[test]
    fn compiles_on_a_miss_then_loads_on_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (file, digest) = component_file(dir.path(), EMPTY_COMPONENT);
        let engine = engine(2);

        let first = load_or_compile(&engine, &file, &digest, &cache).unwrap();
        assert!(!first.cached);
        assert_eq!(first.artefact, cache.join(format!("{digest}-{}.cwasm", engine_key(&engine))));
        let entries: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        assert_eq!(entries.len(), 1, "no scratch file left behind: {entries:?}");

        // A hit never reads the source again: remove it to prove it.
        fs::remove_file(&file).unwrap();
        let second = load_or_compile(&engine, &file, &digest, &cache).unwrap();
        assert!(second.cached);
    }

    #[test]
    fn hosts_starting_the_same_digest_at_once_compile_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (file, digest) = component_file(dir.path(), EMPTY_COMPONENT);
        let engine = engine(1);
        let compiled: usize = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| load_or_compile(&engine, &file, &digest, &cache).unwrap().cached))
                .collect();
            starts.into_iter().map(|start| start.join().unwrap()).filter(|cached| !cached).count()
        });
        assert_eq!(compiled, 1, "one compiles, the others wait and load its artefact");
    }

    #[test]
    fn a_corrupt_artefact_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let (file, digest) = component_file(dir.path(), EMPTY_COMPONENT);
        let engine = engine(1);
        fs::write(artefact_path(dir.path(), &digest, &engine), b"not an artefact").unwrap();
        let loaded = load_or_compile(&engine, &file, &digest, dir.path()).unwrap();
        assert!(!loaded.cached);
        assert!(load_or_compile(&engine, &file, &digest, dir.path()).unwrap().cached);
    }

    #[test]
    fn refuses_a_component_whose_digest_differs() {
        let dir = tempfile::tempdir().unwrap();
        let (file, actual) = component_file(dir.path(), EMPTY_COMPONENT);
        let expected = "0".repeat(64);
        let err = load_or_compile(&engine(1), &file, &expected, dir.path()).err().unwrap();
        assert_eq!(err.code, Code::ComponentDigest);
        assert!(err.message.contains(&actual) && err.message.contains(&expected), "{err}");
        assert!(
            fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".cwasm"))
        );
    }

    #[test]
    fn refuses_bytes_that_are_not_a_component() {
        let dir = tempfile::tempdir().unwrap();
        let (file, digest) = component_file(dir.path(), b"\0asm\x01\x00\x00\x00\x05");
        let err = load_or_compile(&engine(1), &file, &digest, dir.path()).err().unwrap();
        assert_eq!(err.code, Code::ComponentCompile, "{err}");
    }
}
