/* The common case of the pixelis record format, parsed in one pass in C (readers/fastpath.py).
 *
 * `parse(data, offsets)` reads the texts data[offsets[i]:offsets[i+1]] (an Arrow large_string array's
 * buffers) and builds the input-schema columns of every text that is a *plain* record: strict JSON
 * (RFC 8259, valid UTF-8, no lone surrogate), an object whose keys are pixelis fields or plain
 * lower-case unknown fields, each key once, every value of the type its field takes, no value the
 * engine would write differently from this file (a non-integer number inside a JSON value).
 * Everything else is *deferred*: its row is null here and the engine path (engine.py, the rules of
 * docs/formats.md) parses it, so every reject reason and every fix-up stays in one place. The columns
 * built here equal the engine path's for the same text (tests/test_fastparse.py checks that against
 * the engine on generated and adversarial texts): strings decoded, JSON values written compact the way
 * the engine writes them (yyjson: `"` `\\` \b \f \n \r \t escaped, other control characters as
 * \u00XX, `\/` as `/`, everything else raw; integers as written, -0 as 0).
 * The GIL is released while parsing, so a worker thread parses the next batch meanwhile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64 /* deeper JSON values are deferred (the engine and Python judge them) */
#define MAX_UNKNOWN 64

typedef struct {
    char *p;
    size_t len, cap;
} Buf;


static inline int reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int put(Buf *b, const void *s, size_t n) {
    if (reserve(b, n)) return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static inline int put1(Buf *b, char c) {
    if (reserve(b, 1)) return -1;
    b->p[b->len++] = c;
    return 0;
}

/* A column being built: offsets (int64, n + 1 of them) into data for strings and lists, doubles in data
 * for the weight; validity as a bitmap. */
typedef struct {
    Buf data, offs, bits;
    int64_t n, nulls, items; /* items: child rows of a list column */
} Col;

static int col_init(Col *c, int with_offsets) {
    memset(c, 0, sizeof *c);
    if (with_offsets) {
        int64_t zero = 0;
        return put(&c->offs, &zero, sizeof zero);
    }
    return 0;
}

static inline int set_bit(Col *c, int valid) {
    size_t byte = (size_t)(c->n >> 3);
    if (byte >= c->bits.len) {
        if (put1(&c->bits, 0)) return -1;
    }
    uint8_t mask = (uint8_t)(1u << (c->n & 7));
    if (valid)
        c->bits.p[byte] |= (char)mask;
    else {
        c->bits.p[byte] &= (char)~mask;
        c->nulls++;
    }
    c->n++;
    return 0;
}

/* end one string (its bytes already in data) or one list (its items already in the child) */
static inline int col_end(Col *c, int64_t end, int valid) {
    if (put(&c->offs, &end, sizeof end)) return -1;
    return set_bit(c, valid);
}

static inline int str_end(Col *c) { return col_end(c, (int64_t)c->data.len, 1); }
static inline int str_null(Col *c) { return col_end(c, (int64_t)c->data.len, 0); }

typedef struct {
    int64_t n, nulls, items;
    size_t data, offs;
} Mark;

static inline Mark mark(const Col *c) { return (Mark){c->n, c->nulls, c->items, c->data.len, c->offs.len}; }

static inline void rewind_to(Col *c, Mark m) {
    c->n = m.n;
    c->nulls = m.nulls;
    c->items = m.items;
    c->data.len = m.data;
    c->offs.len = m.offs;
}

/* ---- the parser: every function returns 0, or -1 to defer the record ---- */

typedef struct {
    const uint8_t *p, *end;
} P;

static inline void ws(P *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r')) s->p++;
}

static inline int hex4(const uint8_t *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static inline int put_utf8(Buf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return put(b, u, n);
}

/* length of the valid UTF-8 sequence of a non-ASCII byte at p, or 0 */
static inline int utf8_len(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    size_t left = (size_t)(end - p);
#define CONT(i) (left > (i) && (p[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) return CONT(1) ? 2 : 0;
    if (c == 0xE0) return (left > 2 && p[1] >= 0xA0 && p[1] <= 0xBF && CONT(2)) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return (CONT(1) && CONT(2)) ? 3 : 0;
    if (c == 0xED) return (left > 2 && p[1] >= 0x80 && p[1] <= 0x9F && CONT(2)) ? 3 : 0;
    if (c == 0xF0) return (left > 3 && p[1] >= 0x90 && p[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    if (c == 0xF4) return (left > 3 && p[1] >= 0x80 && p[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
#undef CONT
    return 0;
}

static const char HEX[] = "0123456789ABCDEF";

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* whether any of the 8 bytes at p ends a plain run of a string: '"', '\\', a control character or a
 * non-ASCII byte (bit tricks: a borrow can flag a byte above a flagged one, never miss one) */
static inline int special8(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t quote = v ^ (ONES * '"'), backslash = v ^ (ONES * '\\');
    uint64_t zero_byte = ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash);
    uint64_t control = (v - ONES * 0x20) & ~v;
    return ((zero_byte | control | v) & HIGHS) != 0;
}

/* the end of the run of plain string bytes at p: exact where a 16-byte block holds it (SSE2), else at
 * most 8 bytes short of it (the 8-byte fallback), where the caller's byte loop finds the exact end */
static inline const uint8_t *plain_run(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed: a non-ASCII byte (>= 0x80) is negative, so one compare flags it with the controls */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                    _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(stop);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (end - p >= 8 && !special8(p)) p += 8;
    return p;
}

/* A JSON string at s->p (on its '"'), decoded into out; with `escaped`, written as the engine writes it. */
static int string(P *s, Buf *out, int escaped) {
    const uint8_t *p = s->p + 1, *end = s->end;
    if (escaped && put1(out, '"')) return -1;
    for (;;) {
        const uint8_t *run = p;
        p = plain_run(p, end);
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p > run && put(out, run, (size_t)(p - run))) return -1;
        if (p >= end) return -1;
        uint8_t c = *p;
        if (c == '"') {
            s->p = p + 1;
            return escaped ? put1(out, '"') : 0;
        }
        if (c < 0x20) return -1; /* a raw control character: not JSON */
        if (c >= 0x80) {
            int n = utf8_len(p, end);
            if (!n || put(out, p, (size_t)n)) return -1;
            p += n;
            continue;
        }
        /* a backslash escape */
        if (p + 1 >= end) return -1;
        uint32_t cp;
        switch (p[1]) {
        case '"': cp = '"'; p += 2; break;
        case '\\': cp = '\\'; p += 2; break;
        case '/': cp = '/'; p += 2; break;
        case 'b': cp = '\b'; p += 2; break;
        case 'f': cp = '\f'; p += 2; break;
        case 'n': cp = '\n'; p += 2; break;
        case 'r': cp = '\r'; p += 2; break;
        case 't': cp = '\t'; p += 2; break;
        case 'u':
            if (end - p < 6 || hex4(p + 2, &cp)) return -1;
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return -1; /* a lone high surrogate */
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            break;
        default: return -1;
        }
        if (!escaped || (cp >= 0x20 && cp != '"' && cp != '\\')) {
            if (put_utf8(out, cp)) return -1;
            continue;
        }
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (cp) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = HEX[cp >> 4];
            e[5] = HEX[cp & 15];
            n = 6;
        }
        if (put(out, e, n)) return -1;
    }
}

/* A JSON number at s->p: its lexeme checked; *integral says whether it has no fraction or exponent. */
static int number(P *s, const uint8_t **start, int *integral) {
    const uint8_t *p = s->p, *end = s->end;
    *start = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return -1;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9') p++;
    else
        return -1;
    *integral = 1;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9') p++;
        *integral = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9') p++;
        *integral = 0;
    }
    s->p = p;
    return 0;
}

static int literal(P *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return -1;
    s->p += n;
    return 0;
}

/* Any JSON value, written compact the way the engine writes it. */
static int value(P *s, Buf *out, int depth) {
    if (s->p >= s->end) return -1;
    uint8_t c = *s->p;
    if (c == '"') return string(s, out, 1);
    if (c == '{' || c == '[') {
        uint8_t close = c == '{' ? '}' : ']';
        if (depth >= MAX_DEPTH || put1(out, (char)c)) return -1;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return put1(out, (char)close);
        }
        for (;;) {
            if (c == '{') {
                if (s->p >= s->end || *s->p != '"' || string(s, out, 1)) return -1;
                ws(s);
                if (s->p >= s->end || *s->p != ':' || put1(out, ':')) return -1;
                s->p++;
                ws(s);
            }
            if (value(s, out, depth + 1)) return -1;
            ws(s);
            if (s->p >= s->end) return -1;
            if (*s->p == close) {
                s->p++;
                return put1(out, (char)close);
            }
            if (*s->p != ',' || put1(out, ',')) return -1;
            s->p++;
            ws(s);
        }
    }
    if (c == 't') return literal(s, "true", 4) || put(out, "true", 4);
    if (c == 'f') return literal(s, "false", 5) || put(out, "false", 5);
    if (c == 'n') return literal(s, "null", 4) || put(out, "null", 4);
    const uint8_t *start;
    int integral;
    if (number(s, &start, &integral) || !integral) return -1; /* the engine rewrites other numbers */
    size_t n = (size_t)(s->p - start);
    if (n == 2 && start[0] == '-' && start[1] == '0') return put1(out, '0');
    return put(out, start, n);
}

static inline int is_null(P *s) {
    if (s->p < s->end && *s->p == 'n') return literal(s, "null", 4) == 0 ? 1 : -1;
    return 0;
}

/* A string or null field. */
static int text_field(P *s, Col *c) {
    int null = is_null(s);
    if (null < 0) return -1;
    if (null) return str_null(c);
    if (s->p >= s->end || *s->p != '"' || string(s, &c->data, 0)) return -1;
    return str_end(c);
}

/* ---- the record ---- */

enum {
    SAMPLE_ID, TASK_TYPE, SAMPLE_TYPE, QUESTION, IMAGE_PATH, ANSWER, GROUND_TRUTH, EXTRA, SOURCE_FORMAT,
    N_STR, /* string columns above; the other fields below */
    IMAGES = N_STR, TRAJECTORY, SAMPLING_WEIGHT, N_FIELDS
};
static const char *NAMES[N_FIELDS] = {
    "sample_id", "task_type", "sample_type", "question", "image_path", "answer", "ground_truth", "extra",
    "source_format", "images", "trajectory", "sampling_weight",
};
enum { ACTION, THOUGHT, PARAMETERS, RESULT, N_STEP };
static const char *STEP_NAMES[N_STEP] = {"action", "thought", "parameters", "result"};

typedef struct {
    Col str[N_STR], images, image_items, traj, steps[N_STEP], weight;
    Buf key, unknown, own_extra;
} Out;

static size_t NAME_LENS[N_FIELDS], STEP_NAME_LENS[N_STEP]; /* filled at import */

static int find(const Buf *key, const char **names, const size_t *lens, int n) {
    for (int i = 0; i < n; i++)
        if (lens[i] == key->len && !memcmp(names[i], key->p, key->len)) return i;
    return -1;
}

static int plain_name(const Buf *key) { /* [a-z_][a-z0-9_]{0,62}: names the engine path writes itself */
    if (key->len == 0 || key->len > 63) return 0;
    for (size_t i = 0; i < key->len; i++) {
        char c = key->p[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9'))) return 0;
    }
    return 1;
}

static int key_of(P *s, Buf *key) {
    key->len = 0;
    if (s->p >= s->end || *s->p != '"' || string(s, key, 0)) return -1;
    ws(s);
    if (s->p >= s->end || *s->p != ':') return -1;
    s->p++;
    ws(s);
    return 0;
}

/* After a member: ',' (1, another follows) or the closing brace (0). */
static int next_member(P *s, uint8_t close) {
    ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == close) {
        s->p++;
        return 0;
    }
    if (*s->p != ',') return -1;
    s->p++;
    ws(s);
    return 1;
}

static int step(P *s, Out *o) {
    if (s->p >= s->end || *s->p != '{') return -1;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') return -1; /* an empty step: the rules judge it */
    unsigned seen = 0;
    for (int more = 1; more;) {
        if (key_of(s, &o->key)) return -1;
        int k = find(&o->key, STEP_NAMES, STEP_NAME_LENS, N_STEP);
        if (k < 0 || (seen & (1u << k))) return -1; /* unknown step keys and duplicates: fixups.py */
        seen |= 1u << k;
        Col *c = &o->steps[k];
        if (k == ACTION || k == THOUGHT) {
            if (text_field(s, c)) return -1;
        } else {
            int null = is_null(s);
            if (null < 0) return -1;
            if (null) {
                if (str_null(c)) return -1;
            } else if (s->p < s->end && *s->p == '"') {
                if (k == PARAMETERS || string(s, &c->data, 0) || str_end(c)) return -1;
            } else if (value(s, &c->data, 2) || str_end(c)) {
                return -1;
            }
        }
        if ((more = next_member(s, '}')) < 0) return -1;
    }
    for (int k = 0; k < N_STEP; k++)
        if (!(seen & (1u << k)) && str_null(&o->steps[k])) return -1;
    return 0;
}

/* A JSON array at s->p, each element read by `item`, which appends one child row of `list`. */
static int array(P *s, Out *o, Col *list, int (*item)(P *, Out *)) {
    if (s->p >= s->end || *s->p != '[') return -1;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
    } else {
        for (int more = 1; more;) {
            if (item(s, o)) return -1;
            list->items++;
            if ((more = next_member(s, ']')) < 0) return -1;
        }
    }
    return col_end(list, list->items, 1);
}

static int image(P *s, Out *o) { /* a string: a null or other element is for the rules to judge */
    if (s->p >= s->end || *s->p != '"') return -1;
    return text_field(s, &o->image_items);
}

static int trajectory(P *s, Out *o) { return array(s, o, &o->traj, step); }

static int images(P *s, Out *o) {
    int null = is_null(s);
    if (null < 0) return -1;
    if (null) return col_end(&o->images, o->images.items, 0);
    if (s->p < s->end && *s->p == '"') { /* one path: a list of one */
        if (image(s, o)) return -1;
        o->images.items++;
        return col_end(&o->images, o->images.items, 1);
    }
    return array(s, o, &o->images, image);
}

static int weight(P *s, Out *o) {
    int null = is_null(s);
    if (null < 0) return -1;
    double w = 0.0;
    if (!null) {
        const uint8_t *start;
        int integral;
        if (number(s, &start, &integral)) return -1;
        char tmp[64];
        size_t n = (size_t)(s->p - start);
        if (n >= sizeof tmp) return -1;
        memcpy(tmp, start, n);
        tmp[n] = 0;
        errno = 0;
        w = strtod(tmp, NULL);
        if (!isfinite(w) || (errno == ERANGE && w == 0.0)) return -1; /* overflow, or underflow to 0 */
        if (integral && w == 0.0) w = 0.0; /* the engine reads -0 as the integer 0 */
    }
    if (put(&o->weight.data, &w, sizeof w)) return -1;
    return set_bit(&o->weight, !null);
}

static int sample_id(P *s, Col *c) {
    if (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))) {
        if (value(s, &c->data, 0)) return -1; /* an integer, as the engine writes it */
        return str_end(c);
    }
    return text_field(s, c);
}

/* One record; -1 leaves the columns as they were before it (the caller rewinds them). */
static int record(P *s, Out *o) {
    ws(s);
    if (s->p >= s->end || *s->p != '{') return -1;
    s->p++;
    ws(s);
    unsigned seen = 0;
    int unknowns = 0, extra_null = 0;
    size_t names[MAX_UNKNOWN][2]; /* offset and length of each unknown name inside o->unknown */
    o->unknown.len = o->own_extra.len = 0;
    if (s->p < s->end && *s->p == '}') return -1; /* no trajectory */
    for (int more = 1; more;) {
        if (key_of(s, &o->key)) return -1;
        int k = find(&o->key, NAMES, NAME_LENS, N_FIELDS);
        if (k < 0) {
            if (!plain_name(&o->key) || unknowns == MAX_UNKNOWN) return -1;
            for (int i = 0; i < unknowns; i++)
                if (names[i][1] == o->key.len && !memcmp(o->unknown.p + names[i][0], o->key.p, o->key.len))
                    return -1; /* a duplicate key */
            if (put1(&o->unknown, unknowns ? ',' : '{') || put1(&o->unknown, '"')) return -1;
            names[unknowns][0] = o->unknown.len;
            names[unknowns++][1] = o->key.len;
            if (put(&o->unknown, o->key.p, o->key.len) || put(&o->unknown, "\":", 2)) return -1;
            if (value(s, &o->unknown, 1)) return -1;
        } else {
            if (seen & (1u << k)) return -1; /* a duplicate key */
            seen |= 1u << k;
            int err;
            if (k == SAMPLE_ID)
                err = sample_id(s, &o->str[k]);
            else if (k == EXTRA) {
                extra_null = is_null(s);
                err = extra_null < 0 || (!extra_null && (s->p >= s->end || *s->p == '"' || value(s, &o->own_extra, 1)));
            } else if (k < N_STR)
                err = text_field(s, &o->str[k]);
            else if (k == IMAGES)
                err = images(s, o);
            else if (k == TRAJECTORY)
                err = trajectory(s, o);
            else
                err = weight(s, o);
            if (err) return -1;
        }
        if ((more = next_member(s, '}')) < 0) return -1;
    }
    ws(s);
    if (s->p != s->end || !(seen & (1u << TRAJECTORY))) return -1;
    /* extra: the record's own object, or its unknown fields as one; both at once is merged by fixups.py */
    Col *extra = &o->str[EXTRA];
    if (unknowns) {
        int own_empty = o->own_extra.len == 2 && !memcmp(o->own_extra.p, "{}", 2);
        if ((seen & (1u << EXTRA)) && !extra_null && !own_empty) return -1;
        if (put(&extra->data, o->unknown.p, o->unknown.len) || put1(&extra->data, '}') || str_end(extra)) return -1;
    } else if ((seen & (1u << EXTRA)) && !extra_null) {
        if (put(&extra->data, o->own_extra.p, o->own_extra.len) || str_end(extra)) return -1;
    } else if (str_null(extra)) {
        return -1;
    }
    seen |= 1u << EXTRA;
    for (int k = 0; k < N_STR; k++)
        if (!(seen & (1u << k)) && str_null(&o->str[k])) return -1;
    if (!(seen & (1u << IMAGES)) && col_end(&o->images, o->images.items, 0)) return -1;
    if (!(seen & (1u << SAMPLING_WEIGHT))) {
        double zero = 0.0;
        if (put(&o->weight.data, &zero, sizeof zero) || set_bit(&o->weight, 0)) return -1;
    }
    return 0;
}

#define ALL_COLS(o, X)                                                                                        \
    do {                                                                                                     \
        for (int _i = 0; _i < N_STR; _i++) X(&(o)->str[_i]);                                               \
        for (int _i = 0; _i < N_STEP; _i++) X(&(o)->steps[_i]);                                            \
        X(&(o)->images);                                                                                      \
        X(&(o)->image_items);                                                                                 \
        X(&(o)->traj);                                                                                        \
        X(&(o)->weight);                                                                                      \
    } while (0)

static void free_col(Col *c) {
    free(c->data.p);
    free(c->offs.p);
    free(c->bits.p);
}

static int parse_all(Out *o, const uint8_t *data, const int64_t *offs, Py_ssize_t n, uint8_t *deferred) {
    Mark marks[N_STR + N_STEP + 4];
    for (Py_ssize_t i = 0; i < n; i++) {
        int m = 0;
#define SAVE(c) marks[m++] = mark(c)
        ALL_COLS(o, SAVE);
        P s = {data + offs[i], data + offs[i + 1]};
        if (record(&s, o) == 0) {
            deferred[i] = 0;
            continue;
        }
        deferred[i] = 1;
        m = 0;
#define REWIND(c) rewind_to(c, marks[m++])
        ALL_COLS(o, REWIND);
        /* a deferred record's row: null in every row column (its child rows were rewound) */
        int bad = 0;
        for (int k = 0; k < N_STR; k++) bad |= str_null(&o->str[k]);
        bad |= col_end(&o->images, o->images.items, 0);
        bad |= col_end(&o->traj, o->traj.items, 0);
        double zero = 0.0;
        bad |= put(&o->weight.data, &zero, sizeof zero) || set_bit(&o->weight, 0);
        if (bad) return -1;
    }
    return 0;
}

/* A column buffer handed to Python without a copy: it owns the malloc'd memory, and Arrow reads it
 * through the buffer protocol. Copying into bytes cost a third of the parse (memmove + page faults). */
typedef struct {
    PyObject_HEAD char *p;
    Py_ssize_t len;
} Owned;

static void owned_dealloc(Owned *self) {
    free(self->p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int owned_getbuffer(Owned *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->p ? self->p : (char *)"", self->len, 1, flags);
}

static PyBufferProcs OWNED_BUFFER = {(getbufferproc)owned_getbuffer, NULL};

static PyTypeObject OwnedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pixelis_data.readers._fastparse.Owned",
    .tp_basicsize = sizeof(Owned),
    .tp_dealloc = (destructor)owned_dealloc,
    .tp_as_buffer = &OWNED_BUFFER,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Read-only bytes of one column buffer, owned by this object.",
};

/* b's memory as an Owned object; b is left empty (its memory now belongs to the object) */
static PyObject *bytes_of(Buf *b) {
    Owned *out = PyObject_New(Owned, &OwnedType);
    if (!out) return NULL;
    if (b->p && b->cap > b->len + 65536) { /* give back the unused tail of the last doubling */
        char *p = realloc(b->p, b->len ? b->len : 1);
        if (p) b->p = p;
    }
    out->p = b->p;
    out->len = (Py_ssize_t)b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return (PyObject *)out;
}

/* (validity bitmap, offsets or values, data, null count, length) of one column */
static PyObject *col_tuple(Col *c, int has_offsets) {
    PyObject *bits = bytes_of(&c->bits);
    PyObject *first = bytes_of(has_offsets ? &c->offs : &c->data);
    PyObject *data = has_offsets ? bytes_of(&c->data) : (Py_INCREF(Py_None), Py_None);
    if (!bits || !first || !data) {
        Py_XDECREF(bits);
        Py_XDECREF(first);
        Py_XDECREF(data);
        return NULL;
    }
    return Py_BuildValue("(NNNLL)", bits, first, data, (long long)c->nulls, (long long)c->n);
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer data, offsets;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    PyObject *result = NULL;
    if (offsets.len % 8 || offsets.len < 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must be n + 1 int64 values");
        goto done;
    }
    Py_ssize_t n = offsets.len / 8 - 1;
    const int64_t *offs = offsets.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (offs[i] < 0 || offs[i] > offs[i + 1] || offs[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of order or outside the data");
            goto done;
        }
    Out o;
    memset(&o, 0, sizeof o);
    int bad = 0;
    for (int k = 0; k < N_STR; k++) bad |= col_init(&o.str[k], 1);
    for (int k = 0; k < N_STEP; k++) bad |= col_init(&o.steps[k], 1);
    bad |= col_init(&o.images, 1) | col_init(&o.image_items, 1) | col_init(&o.traj, 1) | col_init(&o.weight, 0);
    uint8_t *deferred = malloc(n ? (size_t)n : 1);
    if (bad || !deferred) {
        PyErr_NoMemory();
    } else {
        Py_BEGIN_ALLOW_THREADS bad = parse_all(&o, data.buf, offs, n, deferred);
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_NoMemory();
        } else {
            PyObject *cols = PyDict_New();
            int ok = cols != NULL;
            for (int k = 0; ok && k < N_STR; k++) {
                PyObject *t = col_tuple(&o.str[k], 1);
                ok = t && PyDict_SetItemString(cols, NAMES[k], t) == 0;
                Py_XDECREF(t);
            }
            for (int k = 0; ok && k < N_STEP; k++) {
                PyObject *t = col_tuple(&o.steps[k], 1);
                char name[32];
                snprintf(name, sizeof name, "step.%s", STEP_NAMES[k]);
                ok = t && PyDict_SetItemString(cols, name, t) == 0;
                Py_XDECREF(t);
            }
            const struct {
                const char *name;
                Col *col;
                int offsets;
            } rest[] = {{"images", &o.images, 1}, {"images.item", &o.image_items, 1},
                        {"trajectory", &o.traj, 1}, {"sampling_weight", &o.weight, 0}};
            for (size_t k = 0; ok && k < sizeof rest / sizeof rest[0]; k++) {
                PyObject *t = col_tuple(rest[k].col, rest[k].offsets);
                ok = t && PyDict_SetItemString(cols, rest[k].name, t) == 0;
                Py_XDECREF(t);
            }
            PyObject *mask = ok ? PyBytes_FromStringAndSize((const char *)deferred, n) : NULL;
            if (mask) result = Py_BuildValue("(NN)", mask, cols);
            else Py_XDECREF(cols);
        }
    }
    free(deferred);
    ALL_COLS(&o, free_col);
    free(o.key.p);
    free(o.unknown.p);
    free(o.own_extra.p);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return result;
}

/* line_offsets(data) -> int64 offsets of the lines of data, each line with its '\n' (texts.py). */
static PyObject *line_offsets(PyObject *self, PyObject *args) {
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const char *p = data.buf, *end = p + data.len;
    Buf out = {NULL, 0, 0};
    int bad = reserve(&out, sizeof(int64_t) * (size_t)(data.len / 256 + 2));
    Py_BEGIN_ALLOW_THREADS int64_t zero = 0;
    bad = bad || put(&out, &zero, sizeof zero);
    for (const char *q = p; !bad && (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++) {
        int64_t at = q + 1 - p;
        bad = put(&out, &at, sizeof at);
    }
    if (!bad && data.len > 0 && end[-1] != '\n') { /* a last line without its line break */
        int64_t at = (int64_t)data.len;
        bad = put(&out, &at, sizeof at);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (bad) {
        free(out.p);
        return PyErr_NoMemory();
    }
    return bytes_of(&out);
}

/* IdSet: the sample_ids seen so far as pairs of 64-bit hashes (readers/seen.py), in an open-addressing
 * table that is never more than half full. update() answers, for each pair in order, whether it was
 * there already, and adds it if not: a repeat within the same batch is found as well. One caller at a
 * time (the read thread): the table is changed with the GIL released. */
typedef struct {
    PyObject_HEAD uint64_t *slots; /* 2 words per slot: first hash with its lowest bit set (0 = free), second */
    size_t cap, n;                   /* cap: a power of two */
} IdSet;

static int idset_put(uint64_t *slots, size_t cap, uint64_t a, uint64_t b) { /* 1: there already */
    size_t mask = cap - 1, i = (size_t)(a >> 1) & mask;
    for (;; i = (i + 1) & mask) {
        uint64_t *at = slots + 2 * i;
        if (at[0] == 0) {
            at[0] = a;
            at[1] = b;
            return 0;
        }
        if (at[0] == a && at[1] == b) return 1;
    }
}

static int idset_has(const uint64_t *slots, size_t cap, uint64_t a, uint64_t b) {
    size_t mask = cap - 1, i = (size_t)(a >> 1) & mask;
    for (;; i = (i + 1) & mask) {
        const uint64_t *at = slots + 2 * i;
        if (at[0] == 0) return 0;
        if (at[0] == a && at[1] == b) return 1;
    }
}

static int idset_reserve(IdSet *s, size_t more) { /* room for `more` new pairs at half load */
    size_t cap = s->cap;
    while (2 * (s->n + more) > cap) cap *= 2;
    if (cap == s->cap) return 0;
    uint64_t *slots = calloc(2 * cap, sizeof(uint64_t));
    if (!slots) return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[2 * i]) idset_put(slots, cap, s->slots[2 * i], s->slots[2 * i + 1]);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

static PyObject *idset_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    IdSet *s = (IdSet *)type->tp_alloc(type, 0);
    if (!s) return NULL;
    s->cap = 1 << 14;
    s->slots = calloc(2 * s->cap, sizeof(uint64_t));
    if (!s->slots) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    return (PyObject *)s;
}

static void idset_dealloc(IdSet *s) {
    free(s->slots);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* (first, second): two buffers of n uint64 -> n bytes; `add`: insert the pairs not there yet */
static PyObject *idset_call(IdSet *s, PyObject *args, int add) {
    Py_buffer first, second;
    if (!PyArg_ParseTuple(args, "y*y*", &first, &second)) return NULL;
    PyObject *out = NULL;
    size_t n = (size_t)first.len / 8;
    if (first.len % 8 || second.len != first.len) {
        PyErr_SetString(PyExc_ValueError, "first and second must be buffers of as many uint64 values");
    } else if (add && idset_reserve(s, n)) {
        PyErr_NoMemory();
    } else if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n)) != NULL) {
        uint8_t *seen = (uint8_t *)PyBytes_AS_STRING(out);
        const uint8_t *fa = first.buf, *fb = second.buf;
        size_t added = 0;
        Py_BEGIN_ALLOW_THREADS for (size_t i = 0; i < n; i++) {
            uint64_t a, b;
            memcpy(&a, fa + 8 * i, 8);
            memcpy(&b, fb + 8 * i, 8);
            a |= 1;
            seen[i] = (uint8_t)(add ? idset_put(s->slots, s->cap, a, b) : idset_has(s->slots, s->cap, a, b));
            added += add && !seen[i];
        }
        Py_END_ALLOW_THREADS s->n += added;
    }
    PyBuffer_Release(&first);
    PyBuffer_Release(&second);
    return out;
}

static PyObject *idset_update(IdSet *s, PyObject *args) { return idset_call(s, args, 1); }
static PyObject *idset_contains(IdSet *s, PyObject *args) { return idset_call(s, args, 0); }
static Py_ssize_t idset_len(IdSet *s) { return (Py_ssize_t)s->n; }

static PyMethodDef IDSET_METHODS[] = {
    {"update", (PyCFunction)idset_update, METH_VARARGS,
     "update(first, second) -> bytes: 1 where the pair was there already (earlier in this call too); adds the others."},
    {"contains", (PyCFunction)idset_contains, METH_VARARGS, "contains(first, second) -> bytes: 1 where the pair is there."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods IDSET_SEQUENCE = {.sq_length = (lenfunc)idset_len};

static PyTypeObject IdSetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pixelis_data.readers._fastparse.IdSet",
    .tp_basicsize = sizeof(IdSet),
    .tp_dealloc = (destructor)idset_dealloc,
    .tp_as_sequence = &IDSET_SEQUENCE,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A set of (first, second) 64-bit hash pairs.",
    .tp_methods = IDSET_METHODS,
    .tp_new = idset_new,
};

static PyMethodDef METHODS[] = {
    {"line_offsets", line_offsets, METH_VARARGS,
     "line_offsets(data) -> bytes: int64 offsets [0, end of line 1, ..., len(data)] of data's lines."},
    {"parse", parse, METH_VARARGS,
     "parse(data, offsets) -> (deferred, columns): the plain records' input-schema columns as buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_fastparse", NULL, -1, METHODS, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastparse(void) {
    for (int i = 0; i < N_FIELDS; i++) NAME_LENS[i] = strlen(NAMES[i]);
    for (int i = 0; i < N_STEP; i++) STEP_NAME_LENS[i] = strlen(STEP_NAMES[i]);
    if (PyType_Ready(&OwnedType) < 0 || PyType_Ready(&IdSetType) < 0) return NULL;
    PyObject *module = PyModule_Create(&MODULE);
    if (module && PyModule_AddObjectRef(module, "IdSet", (PyObject *)&IdSetType) < 0) Py_CLEAR(module);
    return module;
}
