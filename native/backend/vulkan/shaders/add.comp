// y row += a row (mode 0) or y row = a row (mode 1) for rows x n (a_stride 0: one row of a for
// every row: a bias).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer Y { float y[]; };           // (rows, y_stride)
layout(set = 0, binding = 1) readonly buffer A { float a[]; };  // (rows, a_stride) or (n)

layout(push_constant) uniform Params {
    int n, y_off, y_stride, a_off, a_stride, mode;
} p;

void main() {
    const int i = int(gl_GlobalInvocationID.x), t = int(gl_WorkGroupID.y);
    if (i >= p.n) return;
    const float v = a[p.a_off + t * p.a_stride + i];
    const int at = p.y_off + t * p.y_stride + i;
    y[at] = p.mode == 1 ? v : y[at] + v;
}
