// glibc compatibility shims for the linux prebuilds only (scripts/prebuild.mjs links this file with
// -Wl,--wrap=<symbol> for every symbol below; the node-gyp and cmake-js builds never compile it).
//
// The prebuilds are built here against glibc 2.36, which gives several functions a new symbol version
// (pthread_* and dl* moved into libc in 2.34, exp/log/pow got new versions in 2.29, fstat64 became a
// real function in 2.33) and adds some that older glibc lacks (arc4random 2.36,
// pthread_cond_clockwait 2.30/2.34, __libc_single_threaded 2.32, getentropy 2.25), referenced by our
// code and by the static libstdc++. --wrap sends every reference, libstdc++'s included, to the
// __wrap_ functions here, which call the oldest version of each function (bound with .symver) or
// implement it with calls that glibc 2.17 already had. scripts/check-glibc.sh then checks with
// objdump -T that no version above 2.28 (and no GLIBCXX/CXXABI) is left.
#if defined(__linux__) && defined(RINGLLM_GLIBC_COMPAT)
#include <features.h>
#ifndef __GLIBC__
#error "glibc_compat.cpp is for glibc targets"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#define RL_GLIBC_BASE "GLIBC_2.2.5"
#define RL_STAT_VER 1
#elif defined(__aarch64__)
#define RL_GLIBC_BASE "GLIBC_2.17"
#define RL_STAT_VER 0
#else
#error "glibc_compat.cpp: no base glibc version known for this architecture"
#endif

// rl_old_X is bound to X@<base version>: the definition every glibc since the architecture's first has.
#define RL_OLD(ret, name, params)                                        \
    extern "C" ret rl_old_##name params;                                 \
    __asm__(".symver rl_old_" #name "," #name "@" RL_GLIBC_BASE)

RL_OLD(int, pthread_create, (pthread_t*, const pthread_attr_t*, void* (*)(void*), void*));
RL_OLD(int, pthread_join, (pthread_t, void**));
RL_OLD(int, pthread_detach, (pthread_t));
RL_OLD(int, pthread_once, (pthread_once_t*, void (*)(void)));
RL_OLD(int, pthread_key_create, (pthread_key_t*, void (*)(void*)));
RL_OLD(int, __pthread_key_create, (pthread_key_t*, void (*)(void*)));
RL_OLD(int, pthread_key_delete, (pthread_key_t));
RL_OLD(void*, pthread_getspecific, (pthread_key_t));
RL_OLD(int, pthread_setspecific, (pthread_key_t, const void*));
RL_OLD(void*, dlopen, (const char*, int));
RL_OLD(void*, dlsym, (void*, const char*));
RL_OLD(char*, dlerror, (void));
RL_OLD(int, dladdr, (const void*, Dl_info*));
RL_OLD(int, dlclose, (void*));
RL_OLD(double, exp, (double));
RL_OLD(double, log, (double));
RL_OLD(double, pow, (double, double));
RL_OLD(double, log2, (double));
RL_OLD(double, exp2, (double));
RL_OLD(float, expf, (float));
RL_OLD(float, logf, (float));
RL_OLD(float, powf, (float, float));
RL_OLD(float, log2f, (float));
RL_OLD(float, exp2f, (float));
RL_OLD(int, __fxstat64, (int, int, void*));
RL_OLD(int, pthread_sigmask, (int, const sigset_t*, sigset_t*));

#define RL_HIDDEN extern "C" __attribute__((visibility("hidden")))

RL_HIDDEN int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
    return rl_old_pthread_create(t, a, f, arg);
}
RL_HIDDEN int __wrap_pthread_join(pthread_t t, void** r) { return rl_old_pthread_join(t, r); }
RL_HIDDEN int __wrap_pthread_detach(pthread_t t) { return rl_old_pthread_detach(t); }
RL_HIDDEN int __wrap_pthread_once(pthread_once_t* o, void (*f)(void)) { return rl_old_pthread_once(o, f); }
RL_HIDDEN int __wrap_pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return rl_old_pthread_key_create(k, d); }
RL_HIDDEN int __wrap___pthread_key_create(pthread_key_t* k, void (*d)(void*)) {
    return rl_old___pthread_key_create(k, d);
}
RL_HIDDEN int __wrap_pthread_key_delete(pthread_key_t k) { return rl_old_pthread_key_delete(k); }
RL_HIDDEN void* __wrap_pthread_getspecific(pthread_key_t k) { return rl_old_pthread_getspecific(k); }
RL_HIDDEN int __wrap_pthread_setspecific(pthread_key_t k, const void* v) { return rl_old_pthread_setspecific(k, v); }
RL_HIDDEN void* __wrap_dlopen(const char* f, int m) { return rl_old_dlopen(f, m); }
RL_HIDDEN void* __wrap_dlsym(void* h, const char* s) { return rl_old_dlsym(h, s); }
RL_HIDDEN char* __wrap_dlerror(void) { return rl_old_dlerror(); }
RL_HIDDEN int __wrap_dladdr(const void* a, Dl_info* i) { return rl_old_dladdr(a, i); }
RL_HIDDEN int __wrap_dlclose(void* h) { return rl_old_dlclose(h); }
RL_HIDDEN double __wrap_exp(double x) { return rl_old_exp(x); }
RL_HIDDEN double __wrap_log(double x) { return rl_old_log(x); }
RL_HIDDEN double __wrap_pow(double x, double y) { return rl_old_pow(x, y); }
RL_HIDDEN double __wrap_log2(double x) { return rl_old_log2(x); }
RL_HIDDEN double __wrap_exp2(double x) { return rl_old_exp2(x); }
RL_HIDDEN float __wrap_expf(float x) { return rl_old_expf(x); }
RL_HIDDEN float __wrap_logf(float x) { return rl_old_logf(x); }
RL_HIDDEN float __wrap_powf(float x, float y) { return rl_old_powf(x, y); }
RL_HIDDEN float __wrap_log2f(float x) { return rl_old_log2f(x); }
RL_HIDDEN float __wrap_exp2f(float x) { return rl_old_exp2f(x); }

// fstat64 is a function only since 2.33; before, <sys/stat.h> inlined a call to __fxstat64.
RL_HIDDEN int __wrap_fstat64(int fd, void* st) { return rl_old___fxstat64(RL_STAT_VER, fd, st); }
RL_HIDDEN int __wrap_fstat(int fd, void* st) { return rl_old___fxstat64(RL_STAT_VER, fd, st); }

// getentropy (2.25) and arc4random (2.36), used by std::random_device: the getrandom system call
// (Linux 3.17), falling back to /dev/urandom.
static int fill_random(void* buf, size_t n) {
    uint8_t* p = (uint8_t*)buf;
    while (n > 0) {
        long r = syscall(SYS_getrandom, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        p += r;
        n -= (size_t)r;
    }
    if (n == 0) return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        p += r;
        n -= (size_t)r;
    }
    close(fd);
    return n == 0 ? 0 : -1;
}
RL_HIDDEN int __wrap_getentropy(void* buf, size_t n) {
    if (n > 256) {
        errno = EIO;
        return -1;
    }
    return fill_random(buf, n);
}
RL_HIDDEN uint32_t __wrap_arc4random(void) {
    uint32_t v = 0;
    fill_random(&v, sizeof v);
    return v;
}

// pthread_cond_clockwait (std::condition_variable waits on steady_clock): the same wait as a
// pthread_cond_timedwait on the condition's CLOCK_REALTIME, the deadline moved by the time left.
// A wake-up a little early or late is within the contract (callers re-check their predicate).
RL_OLD(int, pthread_cond_timedwait, (pthread_cond_t*, pthread_mutex_t*, const struct timespec*));
RL_HIDDEN int __wrap_pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) {
    return rl_old_pthread_cond_timedwait(c, m, t);
}
RL_HIDDEN int __wrap_pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                            const struct timespec* abstime) {
    if (clock == CLOCK_REALTIME) return rl_old_pthread_cond_timedwait(c, m, abstime);
    struct timespec now, rt;
    clock_gettime(clock, &now);
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t left = (int64_t)(abstime->tv_sec - now.tv_sec) * 1000000000 + (abstime->tv_nsec - now.tv_nsec);
    if (left < 0) left = 0;
    int64_t ns = (int64_t)rt.tv_nsec + left % 1000000000;
    rt.tv_sec += (time_t)(left / 1000000000 + ns / 1000000000);
    rt.tv_nsec = (long)(ns % 1000000000);
    return rl_old_pthread_cond_timedwait(c, m, &rt);
}

RL_HIDDEN int __wrap_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
    return rl_old_pthread_sigmask(how, set, old);
}

// _dl_find_object (2.35): the static libgcc's unwinder asks it for the .eh_frame_hdr of the object
// holding a return address. The same answer from dl_iterate_phdr (the unwinder's older way).
namespace {
struct FindObject {
    uintptr_t pc;
    struct dl_find_object* out;
};
int find_object_in(struct dl_phdr_info* info, size_t, void* data) {
    FindObject* f = (FindObject*)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    bool hit = false;
    void* eh = nullptr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr)& p = info->dlpi_phdr[i];
        const uintptr_t start = (uintptr_t)info->dlpi_addr + p.p_vaddr;
        if (p.p_type == PT_LOAD) {
            if (start < lo) lo = start;
            if (start + p.p_memsz > hi) hi = start + p.p_memsz;
            if (f->pc >= start && f->pc < start + p.p_memsz) hit = true;
        } else if (p.p_type == PT_GNU_EH_FRAME) {
            eh = (void*)start;
        }
    }
    if (!hit) return 0;
    f->out->dlfo_flags = 0;
    f->out->dlfo_map_start = (void*)lo;
    f->out->dlfo_map_end = (void*)hi;
    f->out->dlfo_link_map = nullptr;
    f->out->dlfo_eh_frame = eh;
    return 1;
}
}  // namespace
RL_HIDDEN int __wrap__dl_find_object(void* pc, struct dl_find_object* out) {
    FindObject f{(uintptr_t)pc, out};
    return dl_iterate_phdr(find_object_in, &f) ? 0 : -1;
}

// __libc_single_threaded (2.32): libstdc++ skips atomics while it is 1. 0 here: always atomic.
RL_HIDDEN char __wrap___libc_single_threaded = 0;

#endif
