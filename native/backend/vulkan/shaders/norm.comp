// y row = norm(x row) * w: RMSNorm (kind 0) or LayerNorm without bias (kind 1); one workgroup per row.
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };   // (rows, x_stride)
layout(set = 0, binding = 1) readonly buffer W { float w[]; };   // (n)
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };  // (rows, y_stride)

layout(push_constant) uniform Params {
    int n, x_off, x_stride, w_off, y_off, y_stride, kind;
    float eps;
} p;

shared float red[64];

float workgroup_sum(float v, int tid) {
    red[tid] = v;
    barrier();
    for (int s = 32; s > 0; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    const float total = red[0];
    barrier();
    return total;
}

void main() {
    const int tid = int(gl_LocalInvocationID.x);
    const int xb = p.x_off + int(gl_WorkGroupID.x) * p.x_stride;
    const int yb = p.y_off + int(gl_WorkGroupID.x) * p.y_stride;
    float mean = 0.0;
    if (p.kind == 1) {
        float s = 0.0;
        for (int i = tid; i < p.n; i += 64) s += x[xb + i];
        mean = workgroup_sum(s, tid) / float(p.n);
    }
    float s2 = 0.0;
    for (int i = tid; i < p.n; i += 64) {
        const float d = x[xb + i] - mean;
        s2 += d * d;
    }
    const float scale = 1.0 / sqrt(workgroup_sum(s2, tid) / float(p.n) + p.eps);
    for (int i = tid; i < p.n; i += 64) y[yb + i] = (x[xb + i] - mean) * scale * w[p.w_off + i];
}
