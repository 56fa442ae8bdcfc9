// Combines the flash-decoding partials of attention.comp: per row and head, the splits' running
// maxima m_z, sums l_z and unnormalized outputs a_z give out = sum_z a_z e^(m_z - M) / sum_z l_z e^(m_z - M).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Parts { float part[]; };  // (rows, n_head, splits, dv + 2)
layout(set = 0, binding = 3) writeonly buffer O { float o[]; };       // (rows, o_stride)

layout(push_constant) uniform Params {
    int part_off, o_off, o_stride, splits, dv, n_head;
} p;

void main() {
    const int h = int(gl_WorkGroupID.x), t = int(gl_WorkGroupID.y), tid = int(gl_LocalInvocationID.x);
    const int base = p.part_off + (t * p.n_head + h) * p.splits * (p.dv + 2);
    float M = uintBitsToFloat(0xff800000u);
    for (int z = 0; z < p.splits; z++) M = max(M, part[base + z * (p.dv + 2)]);
    float L = 0.0;
    for (int z = 0; z < p.splits; z++) {
        const float m = part[base + z * (p.dv + 2)];
        if (m > uintBitsToFloat(0xff800000u)) L += part[base + z * (p.dv + 2) + 1] * exp(m - M);
    }
    for (int e = tid; e < p.dv; e += 64) {
        float a = 0.0;
        for (int z = 0; z < p.splits; z++) {
            const float m = part[base + z * (p.dv + 2)];
            if (m > uintBitsToFloat(0xff800000u)) a += part[base + z * (p.dv + 2) + 2 + e] * exp(m - M);
        }
        o[p.o_off + t * p.o_stride + h * p.dv + e] = L > 0.0 ? a / L : 0.0;
    }
}
