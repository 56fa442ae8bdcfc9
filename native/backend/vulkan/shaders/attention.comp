// Attention of one query row and one head per workgroup over a ring cache, 64 keys at a time with
// a running max and sum (online softmax). Two phases: the sinks (positions 0 .. min(n_sinks, q + 1)
// - 1 in slots 0.., seen by the query rotated at its cache position, q1), then the ring, visited
// by distance d from the newest position P = pos0 + rows - 1: position P - d sits in slot
// n_sinks + (p_mod - d) mod n_ring, p_mod = (P - n_sinks) mod n_ring. A query at row t sees
// d >= rows - 1 - t (not after itself), P - d >= n_sinks, and d < rows - 1 - t + window.
// Flash-decoding: with splits > 1, workgroup z takes the z-th part of the ring's keys (and z = 0
// the sinks) and writes its running max, sum and unnormalized output (attn_merge.comp combines
// them) instead of the output.
// Variants (-D): KV_F16, KV_Q8_0 (row layouts: kv_store.comp).
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Q { float q[]; };   // (rows, q_stride): q0, and q1 at q1_off
layout(set = 0, binding = 1) readonly buffer K { uint kc[]; };   // (slots, K row words)
layout(set = 0, binding = 2) readonly buffer V { uint vc[]; };   // (slots, V row words)
layout(set = 0, binding = 3) writeonly buffer O { float o[]; };  // (rows, o_stride), or partials (rows, n_head, splits, dv + 2)

layout(push_constant) uniform Params {
    int q_off, q1_off, q_stride, o_off, o_stride;
    int rows, p_newest, p_mod, n_ring, n_sinks;
    int window, group, dk, dv, n_head_kv;
    float scale, softcap;
    int splits, n_head;
} p;

shared float qs[256];
shared float red[64];
shared float probs[64];

float workgroup_reduce(float v, int tid, bool take_max) {
    red[tid] = v;
    barrier();
    for (int s = 32; s > 0; s >>= 1) {
        if (tid < s) red[tid] = take_max ? max(red[tid], red[tid + s]) : red[tid] + red[tid + s];
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

#if defined(KV_F16)
float key_dot(int slot, int kh) {
    const int kb = slot * (p.n_head_kv * p.dk / 2) + kh * p.dk / 2;
    float s = 0.0;
    for (int i = 0; i < p.dk / 2; i++) {
        const vec2 k = unpackHalf2x16(kc[kb + i]);
        s += qs[2 * i] * k.x + qs[2 * i + 1] * k.y;
    }
    return s;
}
float value_at(int slot, int kh, int e) {
    const vec2 v = unpackHalf2x16(vc[slot * (p.n_head_kv * p.dv / 2) + kh * p.dv / 2 + e / 2]);
    return (e & 1) != 0 ? v.y : v.x;
}
#elif defined(KV_Q8_0)
float key_dot(int slot, int kh) {
    const int kb = slot * (p.n_head_kv * p.dk / 32) * 9 + kh * (p.dk / 32) * 9;
    float s = 0.0;
    for (int b = 0; b < p.dk / 32; b++) {
        const float d = uintBitsToFloat(kc[kb + 9 * b]);
        float sb = 0.0;
        for (int w = 0; w < 8; w++) {
            const int word = int(kc[kb + 9 * b + 1 + w]);
            for (int k = 0; k < 4; k++) sb += qs[32 * b + 4 * w + k] * float(bitfieldExtract(word, 8 * k, 8));
        }
        s += d * sb;
    }
    return s;
}
float value_at(int slot, int kh, int e) {
    const int vb = slot * (p.n_head_kv * p.dv / 32) * 9 + kh * (p.dv / 32) * 9 + 9 * (e / 32);
    const int word = int(vc[vb + 1 + (e % 32) / 4]);
    return uintBitsToFloat(vc[vb]) * float(bitfieldExtract(word, 8 * (e % 4), 8));
}
#else
#error "define KV_F16 or KV_Q8_0"
#endif

void main() {
    const int h = int(gl_WorkGroupID.x), t = int(gl_WorkGroupID.y), tid = int(gl_LocalInvocationID.x);
    const int kh = h / p.group;
    const int d_lo = p.rows - 1 - t;
    const int qpos = p.p_newest - d_lo;  // the query's position (clamped like p_newest)
    int d_hi = min(p.p_newest - p.n_sinks, p.n_ring - 1);
    if (p.window > 0) d_hi = min(d_hi, d_lo + p.window - 1);

    const float NEG_INF = uintBitsToFloat(0xff800000u);
    float m_run = NEG_INF, l_run = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    const int z = int(gl_WorkGroupID.z);
    for (int phase = 0; phase < 2; phase++) {
        // phase 0: sink keys 0 .. n - 1 (query q1); phase 1: ring keys at distance d_lo + i (query q0)
        int n = phase == 0 ? min(p.n_sinks, qpos + 1) : d_hi - d_lo + 1;
        int first = 0;  // this split's first key of the phase
        if (p.splits > 1) {
            if (phase == 0) {
                if (z != 0) n = 0;
            } else {
                const int per = ((n + p.splits - 1) / p.splits + 63) / 64 * 64;
                first = min(n, z * per);
                n = min(n, first + per);
            }
        }
        if (n - first <= 0) continue;
        const int qb = (phase == 0 ? p.q1_off : p.q_off) + t * p.q_stride + h * p.dk;
        for (int i = tid; i < p.dk; i += 64) qs[i] = q[qb + i];
        barrier();
        for (int c = first; c < n; c += 64) {
            const int i = c + tid;
            float score = NEG_INF;
            if (i < n) {
                const int slot = phase == 0 ? i : p.n_sinks + ((p.p_mod - (d_lo + i)) % p.n_ring + p.n_ring) % p.n_ring;
                float s = key_dot(slot, kh) * p.scale;
                if (p.softcap > 0.0) s = p.softcap * tanh(clamp(s / p.softcap, -15.0, 15.0));  // tanh(15) is 1 in f32
                score = s;
            }
            const float m_new = max(m_run, workgroup_reduce(score, tid, true));
            const float pr = i < n ? exp(score - m_new) : 0.0;
            probs[tid] = pr;
            const float corr = exp(m_run - m_new);
            l_run = l_run * corr + workgroup_reduce(pr, tid, false);
            m_run = m_new;
            const int n_here = min(64, n - c);
            for (int k = 0; k < 4; k++) {
                const int e = tid + 64 * k;
                if (e >= p.dv) break;
                float a = acc[k] * corr;
                for (int j = 0; j < n_here; j++) {
                    const int slot = phase == 0 ? c + j : p.n_sinks + ((p.p_mod - (d_lo + c + j)) % p.n_ring + p.n_ring) % p.n_ring;
                    a += probs[j] * value_at(slot, kh, e);
                }
                acc[k] = a;
            }
            barrier();
        }
    }
    if (p.splits > 1) {
        const int pb = p.o_off + ((t * p.n_head + h) * p.splits + z) * (p.dv + 2);
        if (tid == 0) {
            o[pb] = m_run;
            o[pb + 1] = l_run;
        }
        for (int k = 0; k < 4; k++) {
            const int e = tid + 64 * k;
            if (e < p.dv) o[pb + 2 + e] = acc[k];
        }
        return;
    }
    for (int k = 0; k < 4; k++) {
        const int e = tid + 64 * k;
        if (e >= p.dv) break;
        o[p.o_off + t * p.o_stride + h * p.dv + e] = l_run > 0.0 ? acc[k] / l_run : 0.0;
    }
}
