// Rotates n_rot dims of each head of each row by the row's (cos, sin) table: adjacent pairs
// (2i, 2i + 1) (NORM) or half-split pairs (i, i + n_rot / 2) (NEOX).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer X { float x[]; };            // (rows, x_stride)
layout(set = 0, binding = 1) readonly buffer CS { float cs[]; };  // (rows, n_rot / 2, 2)

layout(push_constant) uniform Params {
    int x_off, x_stride, n_heads, head_dim, n_rot, neox, cs_off;
} p;

void main() {
    const int half_rot = p.n_rot / 2;
    const int i = int(gl_GlobalInvocationID.x), t = int(gl_WorkGroupID.y);
    if (i >= p.n_heads * half_rot) return;
    const int h = i / half_rot, j = i % half_rot;
    const int base = p.x_off + t * p.x_stride + h * p.head_dim;
    const int a = base + (p.neox != 0 ? j : 2 * j);
    const int b = base + (p.neox != 0 ? j + half_rot : 2 * j + 1);
    const float c = cs[p.cs_off + t * p.n_rot + 2 * j], s = cs[p.cs_off + t * p.n_rot + 2 * j + 1];
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * c - x1 * s;
    x[b] = x0 * s + x1 * c;
}
