// Stores f32 K or V rows into the cache: row t (position pos0 + t) goes to slot pos0 + t while
// that is a sink (t < sink_rows), else to n_sinks + (ring0 + t - sink_rows) % n_ring.
// Variants (-D): KV_F16 (dim / 2 words per row, two halves each), KV_Q8_0 (dim / 32 blocks of 9
// words: the scale rounded to f16 then 8 words of int8, as the CPU's q8_0 rows).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };  // (rows, src_stride)
layout(set = 0, binding = 1) writeonly buffer Cache { uint cache[]; };  // (slots, row words)

layout(push_constant) uniform Params {
    int src_off, src_stride, dim, n_ring, ring0, sink_rows, pos0, n_sinks;
} p;

void main() {
    const int i = int(gl_GlobalInvocationID.x), t = int(gl_WorkGroupID.y);
    const int slot = t < p.sink_rows ? p.pos0 + t : p.n_sinks + (p.ring0 + t - p.sink_rows) % p.n_ring;
    const int sb = p.src_off + t * p.src_stride;
#if defined(KV_F16)
    if (i >= p.dim / 2) return;
    cache[slot * (p.dim / 2) + i] = packHalf2x16(vec2(src[sb + 2 * i], src[sb + 2 * i + 1]));
#elif defined(KV_Q8_0)
    if (i >= p.dim / 32) return;  // one block of 32 per invocation
    const int xb = sb + 32 * i;
    float amax = 0.0;
    for (int j = 0; j < 32; j++) amax = max(amax, abs(src[xb + j]));
    const float d = amax / 127.0;
    const float id = d != 0.0 ? 1.0 / d : 0.0;
    const int ob = slot * (p.dim / 32) * 9 + 9 * i;
    cache[ob] = floatBitsToUint(unpackHalf2x16(packHalf2x16(vec2(d, 0.0))).x);
    for (int w = 0; w < 8; w++) {
        uint word = 0u;
        for (int k = 0; k < 4; k++) {
            const float v = clamp(src[xb + 4 * w + k] * id, -127.0, 127.0);
            const int q = int(sign(v) * floor(abs(v) + 0.5));  // half away from zero, as roundf
            word |= (uint(q) & 0xFFu) << (8 * k);
        }
        cache[ob + 1 + w] = word;
    }
#else
#error "define KV_F16 or KV_Q8_0"
#endif
}
