// A native backtrace for a crashing process on a machine without gdb (the GPU
// machine): preloaded, it prints the faulting thread's stack (glibc's
// backtrace_symbols_fd: exported symbols only) to stderr on SIGSEGV/SIGBUS.
//   gcc -shared -fPIC -O1 scripts/explore/segv_backtrace.c -o /tmp/segv.so
//   LD_PRELOAD=/tmp/segv.so python3 crashing_script.py
// It found the libstdc++ copy behind docs/building.md's trap 5.
#define _GNU_SOURCE
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/syscall.h>
static void h(int sig, siginfo_t* si, void* ctx) {
  void* b[64]; int n = backtrace(b, 64);
  char msg[128]; int l = snprintf(msg, sizeof msg, "\n== SIG %d addr %p tid %ld\n", sig, si->si_addr, (long)syscall(SYS_gettid));
  write(2, msg, l); backtrace_symbols_fd(b, n, 2); _exit(139);
}
__attribute__((constructor)) static void init(void) {
  struct sigaction sa = {0}; sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
}
