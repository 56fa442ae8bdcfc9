// Windows prebuild only (scripts/prebuild.mjs): the addon imports Node-API from "node.exe" through a
// delay-load import library (dlltool -y), and this hook binds those imports to the process's own
// executable instead, whatever its name: Electron's electron.exe (or an app's renamed one) exports
// the same functions. Without it, loading the addon in a host not named node.exe fails.
#if defined(_WIN32) && defined(RINGLLM_DELAY_LOAD_HOOK)
#include <windows.h>

#include <delayimp.h>
#include <string.h>

static FARPROC WINAPI ringllm_delay_load_hook(unsigned event, PDelayLoadInfo info) {
    if (event != dliNotePreLoadLibrary || !info || !info->szDll) return nullptr;
    if (_stricmp(info->szDll, "node.exe") != 0) return nullptr;
    return (FARPROC)GetModuleHandleW(nullptr);
}

extern "C" {
PfnDliHook __pfnDliNotifyHook2 = ringllm_delay_load_hook;
}
#endif
