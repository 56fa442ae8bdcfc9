// Stores f32 rows as f16 ring rows: cache slot (slot0 + t) % n_slots = src row t.
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };  // (rows, src_stride)
layout(set = 0, binding = 1) writeonly buffer Cache { uint cache[]; };  // (n_slots, dim / 2)

layout(push_constant) uniform Params {
    int src_off, src_stride, dim, n_slots, slot0;
} p;

void main() {
    const int i = int(gl_GlobalInvocationID.x), t = int(gl_WorkGroupID.y);
    if (i >= p.dim / 2) return;
    const int slot = (p.slot0 + t) % p.n_slots;
    const int sb = p.src_off + t * p.src_stride + 2 * i;
    cache[slot * (p.dim / 2) + i] = packHalf2x16(vec2(src[sb], src[sb + 1]));
}
