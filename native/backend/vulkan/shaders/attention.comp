// Attention of one query row and one head per workgroup over an f16 ring cache, 64 keys at a time
// with a running max and sum (online softmax). Keys are visited by distance d from the newest
// position P = pos0 + rows - 1: slot (P - d) mod n_slots holds position P - d. A query at row t
// sees d >= rows - 1 - t (not after itself), d <= P (written), d < rows - 1 - t + window.
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer Q { float q[]; };   // (rows, q_stride)
layout(set = 0, binding = 1) readonly buffer K { uint kc[]; };   // (n_slots, n_head_kv * dk / 2)
layout(set = 0, binding = 2) readonly buffer V { uint vc[]; };   // (n_slots, n_head_kv * dv / 2)
layout(set = 0, binding = 3) writeonly buffer O { float o[]; };  // (rows, o_stride)

layout(push_constant) uniform Params {
    int q_off, q_stride, o_off, o_stride;
    int rows, p_newest, p_mod, n_slots;
    int window, group, dk, dv;
    int n_head_kv;
    float scale, softcap;
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

void main() {
    const int h = int(gl_WorkGroupID.x), t = int(gl_WorkGroupID.y), tid = int(gl_LocalInvocationID.x);
    const int kh = h / p.group;
    const int kw = p.n_head_kv * p.dk / 2, vw = p.n_head_kv * p.dv / 2;
    for (int i = tid; i < p.dk; i += 64) qs[i] = q[p.q_off + t * p.q_stride + h * p.dk + i];
    barrier();

    const int d_lo = p.rows - 1 - t;
    int d_hi = min(p.p_newest, p.n_slots - 1);
    if (p.window > 0) d_hi = min(d_hi, d_lo + p.window - 1);
    const float NEG_INF = uintBitsToFloat(0xff800000u);
    float m_run = NEG_INF, l_run = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (int c = d_lo; c <= d_hi; c += 64) {
        const int d = c + tid;
        float score = NEG_INF;
        if (d <= d_hi) {
            const int slot = ((p.p_mod - d) % p.n_slots + p.n_slots) % p.n_slots;
            const int kb = slot * kw + kh * p.dk / 2;
            float s = 0.0;
            for (int i = 0; i < p.dk / 2; i++) {
                const vec2 kv = unpackHalf2x16(kc[kb + i]);
                s += qs[2 * i] * kv.x + qs[2 * i + 1] * kv.y;
            }
            s *= p.scale;
            if (p.softcap > 0.0) s = p.softcap * tanh(clamp(s / p.softcap, -15.0, 15.0));  // tanh(15) is 1 in f32
            score = s;
        }
        const float m_new = max(m_run, workgroup_reduce(score, tid, true));
        const float pr = d <= d_hi ? exp(score - m_new) : 0.0;
        probs[tid] = pr;
        const float corr = exp(m_run - m_new);
        l_run = l_run * corr + workgroup_reduce(pr, tid, false);
        m_run = m_new;
        const int n_here = min(64, d_hi - c + 1);
        for (int k = 0; k < 4; k++) {
            const int e = tid + 64 * k;
            if (e >= p.dv) break;
            float a = acc[k] * corr;
            for (int j = 0; j < n_here; j++) {
                const int slot = ((p.p_mod - (c + j)) % p.n_slots + p.n_slots) % p.n_slots;
                const vec2 vv = unpackHalf2x16(vc[slot * vw + kh * p.dv / 2 + e / 2]);
                a += probs[j] * ((e & 1) != 0 ? vv.y : vv.x);
            }
            acc[k] = a;
        }
        barrier();
    }
    for (int k = 0; k < 4; k++) {
        const int e = tid + 64 * k;
        if (e >= p.dv) break;
        o[p.o_off + t * p.o_stride + h * p.dv + e] = l_run > 0.0 ? acc[k] / l_run : 0.0;
    }
}
