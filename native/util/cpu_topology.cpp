#include "cpu_topology.h"

#include <fstream>
#include <set>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace rl {

int cpu_logical_cores() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? (int)n : 1;
}

int cpu_physical_cores() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        std::set<std::string> cores;  // one sibling list per physical core
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (!CPU_ISSET(cpu, &set)) continue;
            std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list");
            std::string line;
            if (!f || !std::getline(f, line)) return cpu_logical_cores();
            cores.insert(line);
        }
        if (!cores.empty()) return (int)cores.size();
    }
#endif
    return cpu_logical_cores();
}

}  // namespace rl
