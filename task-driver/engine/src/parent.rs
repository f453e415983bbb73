//! The host lives and dies with the runner that started it. The runner is the
//! Nomad task's process: if it is killed on its own, the kernel sends us SIGTERM
//! (a graceful stop), so no host is left serving a port Nomad has given back.

/// Asks for SIGTERM when our parent dies. Returns false when it is already gone.
pub fn stop_with_parent() -> bool {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory of ours.
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    // Orphans are adopted by init (pid 1): the runner died before prctl took effect.
    set == 0 && parent != 1
}
