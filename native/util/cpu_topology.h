#pragma once

namespace rl {

// Physical cores this process may run on (hyper-threads counted once); at least 1.
int cpu_physical_cores();

// Logical CPUs this process may run on; at least 1.
int cpu_logical_cores();

}  // namespace rl
