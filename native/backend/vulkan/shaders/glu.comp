// g = act(g) * u over rows x n contiguous: act 0 SiLU, 1 GELU (tanh approximation).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer G { float g[]; };           // (rows, n)
layout(set = 0, binding = 1) readonly buffer U { float u[]; };  // (rows, n)

layout(push_constant) uniform Params {
    int n, g_off, u_off, act;
} p;

void main() {
    const int i = int(gl_GlobalInvocationID.x);
    if (i >= p.n) return;
    const int e = int(gl_WorkGroupID.y) * p.n + i;
    const float v = g[p.g_off + e];
    float r;
    if (p.act == 0) {
        r = v / (1.0 + exp(-v));
    } else {
        const float k = 0.7978845608028654;  // sqrt(2 / pi)
        r = 0.5 * v * (1.0 + tanh(clamp(k * v * (1.0 + 0.044715 * v * v), -15.0, 15.0)));  // some drivers' tanh overflows
    }
    g[p.g_off + e] = r * u[p.u_off + e];
}
