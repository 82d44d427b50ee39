// SPDX-License-Identifier: Apache-2.0
/*
 * ambit's eBPF redirection: Istio 1.20's four TC programs (ambient_redirect.bpf.c, see
 * docs in src/redirect/ebpf/README.md) with the same maps, marks and attach points:
 *
 *   app_outbound          tc ingress of each mesh pod's host veth (packets leaving the pod)
 *   app_inbound           tc egress of each mesh pod's host veth (packets entering the pod)
 *   ztunnel_host_ingress  tc ingress of ztunnel's host veth (packets leaving ztunnel)
 *   ztunnel_tproxy        tc ingress of eth0 inside the ztunnel pod: bpf_sk_assign to the
 *                         15001/15008/15006 listeners (or an established socket), mark 0x400
 *   ztunnel_ingress       (instead, built with -DAMBIT_MARK_TPROXY) the same attach point for
 *                         kernels without bpf_sk_assign: marks captured packets by direction
 *                         (8765 outbound, 5678 inbound, Istio's values) and iptables TPROXY
 *                         rules in the ztunnel pod take them to the listeners
 *
 * The mark build (dist/bpf/ambient_redirect_mark.bpf.o) also leaves out what kernels older than
 * bpf_sk_assign (5.7) lack: the ring buffer (5.8; no trace events, counters only) and
 * bpf_redirect_neigh (5.10; a pod whose MAC is unknown is reached through the stack).
 *
 * Fail closed: with no ztunnel (ifindex 0) captured packets are dropped, and a packet that
 * reaches the ztunnel pod with no socket to take it is dropped, never routed on.
 * DNS capture (UDP/53 of enrolled pods) is a DNAT to <ztunnel IP>:15053 done here, with the
 * reverse rewrite of the reply in ztunnel_host_ingress (iptables mode's DNAT + conntrack).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_PODS_PER_NODE 1024
#define OUTBOUND_CB 4321
#define INBOUND_CB 1234
#define BYPASS_CB 0xC001F00D
#define TPROXY_MARK 0x400
#define OUTBOUND_MARK 8765 /* the mark build: iptables TPROXY to 15001 */
#define INBOUND_MARK 5678  /* the mark build: TPROXY to 15008 (dport 15008) or 15006 */
#define CAPTURE_DNS_FLAG (1 << 0)
#define MAX_PRECAPTURE_FLOWS 65536
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define ZTUNNEL_OUTBOUND_PORT 15001
#define ZTUNNEL_INBOUND_PORT 15008
#define ZTUNNEL_INBOUND_PLAINTEXT_PORT 15006
#define ZTUNNEL_DNS_PORT 15053

/* Programs and verdicts, for the counters and the trace events. */
enum prog_id {
    P_APP_OUTBOUND,
    P_APP_INBOUND,
    P_ZTUNNEL_HOST_INGRESS,
    P_ZTUNNEL_TPROXY,
    P_ZTUNNEL_INGRESS,
    P_MAX
};
enum verdict {
    V_PASS,        /* not ours: the normal stack */
    V_REDIRECT,    /* bpf_redirect to ztunnel's (or the pod's) veth */
    V_DROP,        /* fail closed */
    V_ASSIGN,      /* bpf_sk_assign to a ztunnel socket */
    V_DNS,         /* DNS capture rewrite */
    V_MARK,        /* the mark build: marked for the TPROXY rules */
    V_MAX
};

struct app_info {
    __u32 ifindex;  /* the pod's host-side veth */
    __u8 mac[6];    /* the pod's eth0 */
    __u8 pad[2];
};

struct ztunnel_info {
    __u32 ifindex;  /* ztunnel's host-side veth; 0 = no ztunnel (fail closed) */
    __u8 mac[6];    /* ztunnel's eth0 */
    __u8 flag;      /* CAPTURE_DNS_FLAG */
    __u8 pad;
    __u32 ip;       /* ztunnel's IPv4, network order (the DNS capture target) */
};

/* A TCP connection seen from its pod's side; addresses and ports in network order. */
struct flow_key {
    __u32 pod_ip;
    __u32 peer_ip;
    __u16 pod_port;
    __u16 peer_port;
};

struct dns_key {
    __u32 addr;  /* pod IP */
    __u16 port;  /* pod's source port */
    __u16 pad;
};

struct dns_orig {
    __u32 addr;  /* the resolver the pod asked */
    __u16 port;
    __u16 pad;
};

/*
 * One per-packet trace event (40 bytes; src/trace/bpf-events.ts decodes it). Addresses, ports
 * and the IP id in network order, the rest in host order.
 */
struct event {
    __u64 ts;          /* bpf_ktime_get_ns(): one clock for every node of the machine */
    __u8 prog;         /* enum prog_id */
    __u8 verdict;      /* enum verdict */
    __u8 proto;
    __u8 tcp_flags;
    __u32 ifindex;     /* the device the program runs on */
    __u32 target;      /* redirect target ifindex, or the assigned port */
    __u32 saddr, daddr;
    __u16 sport, dport;
    __u16 ipid;
    __u8 sock;         /* sk_assign: 1 = a listener, 2 = an established socket */
    __u8 pad;
    __u32 cb;          /* skb->cb[4] when the program ran (OUTBOUND_CB, INBOUND_CB, BYPASS_CB) */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_PODS_PER_NODE);
    __type(key, __u32);
    __type(value, struct app_info);
} app_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ztunnel_info);
} ztunnel_info SEC(".maps");

/* [0] = the node's IPv4 in its pod CIDR (kubelet probes come from it), network order. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} host_ip_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dns_key);
    __type(value, struct dns_orig);
} dns_nat SEC(".maps");

/*
 * TCP connections that were open when their pod was captured. The agent writes them from the
 * pod's socket table just before it attaches the pod's programs; their packets keep to the
 * stack for the connection's life, as the iptables backend's connmark 0x80 does: ztunnel has no
 * socket for a connection it never saw, so redirecting it would strand it. A SYN on the same
 * tuple starts a new connection, which is captured.
 */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MAX_PRECAPTURE_FLOWS);
    __type(key, struct flow_key);
    __type(value, __u32);
} precapture SEC(".maps");

/* Packets per program and verdict: key prog * V_MAX + verdict. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, P_MAX * V_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

#ifndef AMBIT_MARK_TPROXY
/* Per-packet events while trace_ctl[0] is non-zero (ambit trace / demo read them). */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 18);
} events SEC(".maps");
#endif

/*
 * [0] != 0: emit events. A map of its own, not a ztunnel_info bit: the tracer (another process
 * than the node agent) switches it without racing the agent's ztunnel_info writes.
 */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} trace_ctl SEC(".maps");

struct pkt {
    struct ethhdr *eth;
    struct iphdr *ip;
    __u32 l4off;
    __u16 sport, dport;
    __u32 tcp_flags;
    __u8 sock;  /* set by ztunnel_tproxy before accounting an assignment */
};

/* Parses Ethernet + IPv4 + the TCP/UDP ports; 0 when the packet is not IPv4. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    p->eth = data;
    if ((void *)(p->eth + 1) > end) return 0;
    if (p->eth->h_proto != bpf_htons(ETH_P_IP)) return 0;
    p->ip = (void *)(p->eth + 1);
    if ((void *)(p->ip + 1) > end) return 0;
    if (p->ip->ihl != 5) return 0; /* IP options: not ours (Istio: IPv4 without options) */
    p->l4off = sizeof(struct ethhdr) + sizeof(struct iphdr);
    p->sport = p->dport = 0;
    p->tcp_flags = 0;
    if (p->ip->protocol == IPPROTO_TCP) {
        struct tcphdr *t = (void *)(p->ip + 1);
        if ((void *)(t + 1) > end) return 0;
        p->sport = t->source;
        p->dport = t->dest;
        p->tcp_flags = ((__u8 *)t)[13];
    } else if (p->ip->protocol == IPPROTO_UDP) {
        struct udphdr *u = (void *)(p->ip + 1);
        if ((void *)(u + 1) > end) return 0;
        p->sport = u->source;
        p->dport = u->dest;
    }
    return 1;
}

#ifndef AMBIT_MARK_TPROXY
static __always_inline int tracing(void)
{
    __u32 k = 0;
    __u32 *on = bpf_map_lookup_elem(&trace_ctl, &k);
    return on && *on;
}
#endif

static __always_inline int account(struct __sk_buff *skb, __u8 prog, __u8 verdict, struct pkt *p,
                                   __u32 target, int ret)
{
    __u32 k = prog * V_MAX + verdict;
    __u64 *c = bpf_map_lookup_elem(&counters, &k);
    if (c) *c += 1;
#ifndef AMBIT_MARK_TPROXY
    if (p && p->ip && tracing()) {
        struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
        if (e) {
            e->ts = bpf_ktime_get_ns();
            e->prog = prog;
            e->verdict = verdict;
            e->proto = p->ip->protocol;
            e->tcp_flags = (__u8)p->tcp_flags;
            e->ifindex = skb->ifindex;
            e->target = target;
            e->saddr = p->ip->saddr;
            e->daddr = p->ip->daddr;
            e->sport = p->sport;
            e->dport = p->dport;
            e->ipid = p->ip->id;
            e->sock = p->sock;
            e->pad = 0;
            e->cb = skb->cb[4];
            bpf_ringbuf_submit(e, 0);
        }
    }
#endif
    return ret;
}

static __always_inline struct ztunnel_info *ztunnel(void)
{
    __u32 k = 0;
    return bpf_map_lookup_elem(&ztunnel_info, &k);
}

static __always_inline __u32 host_ip(void)
{
    __u32 k = 0;
    __u32 *v = bpf_map_lookup_elem(&host_ip_info, &k);
    return v ? *v : 0;
}

/* Rewrites the IPv4 address at `ipoff` and the port at `portoff`, fixing both checksums. */
static __always_inline int rewrite_udp(struct __sk_buff *skb, __u32 ipoff, __u32 old_ip,
                                       __u32 new_ip, __u32 portoff, __u16 old_port, __u16 new_port)
{
    __u32 csum = sizeof(struct ethhdr) + sizeof(struct iphdr) + offsetof(struct udphdr, check);
    __u32 l3 = sizeof(struct ethhdr) + offsetof(struct iphdr, check);
    if (bpf_l4_csum_replace(skb, csum, old_ip, new_ip,
                            BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_ip)))
        return -1;
    if (bpf_l3_csum_replace(skb, l3, old_ip, new_ip, sizeof(new_ip))) return -1;
    if (bpf_skb_store_bytes(skb, ipoff, &new_ip, sizeof(new_ip), 0)) return -1;
    if (bpf_l4_csum_replace(skb, csum, old_port, new_port,
                            BPF_F_MARK_MANGLED_0 | sizeof(new_port)))
        return -1;
    if (bpf_skb_store_bytes(skb, portoff, &new_port, sizeof(new_port), 0)) return -1;
    return 0;
}

/* 1 when this TCP packet belongs to a connection open before its pod was captured. */
static __always_inline int precaptured(struct pkt *p, int from_pod)
{
    struct flow_key k = {};
    if (from_pod) {
        k.pod_ip = p->ip->saddr;
        k.peer_ip = p->ip->daddr;
        k.pod_port = p->sport;
        k.peer_port = p->dport;
    } else {
        k.pod_ip = p->ip->daddr;
        k.peer_ip = p->ip->saddr;
        k.pod_port = p->dport;
        k.peer_port = p->sport;
    }
    if (!bpf_map_lookup_elem(&precapture, &k)) return 0;
    /* A new connection on the old tuple (SYN without ACK) is the mesh's; a reset ends the old. */
    if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
        bpf_map_delete_elem(&precapture, &k);
        return 0;
    }
    if (p->tcp_flags & TCP_FLAG_RST) bpf_map_delete_elem(&precapture, &k);
    return 1;
}

static __always_inline int to_ztunnel(struct __sk_buff *skb, struct ztunnel_info *z, __u32 cb)
{
    if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), z->mac, 6, 0)) return -1;
    skb->cb[4] = cb;
    return bpf_redirect(z->ifindex, 0);
}

SEC("tc")
int app_outbound(struct __sk_buff *skb)
{
    struct pkt p = {};
    struct ztunnel_info *z = ztunnel();
    int ok = parse(skb, &p);
    /* Not captured, so not failed closed either: the connection never depended on ztunnel. */
    if (ok && p.ip->protocol == IPPROTO_TCP && precaptured(&p, 1))
        return account(skb, P_APP_OUTBOUND, V_PASS, &p, 0, TC_ACT_OK);
    if (!z || z->ifindex == 0)
        return account(skb, P_APP_OUTBOUND, V_DROP, ok ? &p : 0, 0, TC_ACT_SHOT);
    if (!ok) return account(skb, P_APP_OUTBOUND, V_PASS, 0, 0, TC_ACT_OK);
    if (p.ip->daddr == host_ip())
        return account(skb, P_APP_OUTBOUND, V_PASS, &p, 0, TC_ACT_OK);
    if (p.ip->protocol == IPPROTO_UDP) {
        if (!(z->flag & CAPTURE_DNS_FLAG) || p.dport != bpf_htons(53) || z->ip == 0)
            return account(skb, P_APP_OUTBOUND, V_PASS, &p, 0, TC_ACT_OK);
        struct dns_key k = {.addr = p.ip->saddr, .port = p.sport};
        struct dns_orig o = {.addr = p.ip->daddr, .port = p.dport};
        __u32 zip = z->ip;
        bpf_map_update_elem(&dns_nat, &k, &o, BPF_ANY);
        account(skb, P_APP_OUTBOUND, V_DNS, &p, ZTUNNEL_DNS_PORT, 0);
        if (rewrite_udp(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, daddr), o.addr, zip,
                        p.l4off + offsetof(struct udphdr, dest), o.port,
                        bpf_htons(ZTUNNEL_DNS_PORT)))
            return TC_ACT_SHOT;
        return to_ztunnel(skb, z, OUTBOUND_CB);
    }
    if (p.ip->protocol != IPPROTO_TCP)
        return account(skb, P_APP_OUTBOUND, V_PASS, &p, 0, TC_ACT_OK);
    account(skb, P_APP_OUTBOUND, V_REDIRECT, &p, z->ifindex, 0);
    return to_ztunnel(skb, z, OUTBOUND_CB);
}

SEC("tc")
int app_inbound(struct __sk_buff *skb)
{
    struct pkt p = {};
    struct ztunnel_info *z = ztunnel();
    /* From ztunnel (its host-ingress redirect, or routed from its veth): the proxied leg. */
    int ok = parse(skb, &p);
    if (skb->cb[4] == BYPASS_CB || (z && z->ifindex && skb->ingress_ifindex == z->ifindex))
        return account(skb, P_APP_INBOUND, V_PASS, ok ? &p : 0, 0, TC_ACT_OK);
    if (!ok) return account(skb, P_APP_INBOUND, V_PASS, 0, 0, TC_ACT_OK);
    if (p.ip->saddr == host_ip() || p.ip->protocol != IPPROTO_TCP || precaptured(&p, 0))
        return account(skb, P_APP_INBOUND, V_PASS, &p, 0, TC_ACT_OK);
    if (!z || z->ifindex == 0)
        return account(skb, P_APP_INBOUND, V_DROP, &p, 0, TC_ACT_SHOT);
    account(skb, P_APP_INBOUND, V_REDIRECT, &p, z->ifindex, 0);
    return to_ztunnel(skb, z, INBOUND_CB);
}

SEC("tc")
int ztunnel_host_ingress(struct __sk_buff *skb)
{
    struct pkt p = {};
    struct ztunnel_info *z = ztunnel();
    if (!parse(skb, &p)) return account(skb, P_ZTUNNEL_HOST_INGRESS, V_PASS, 0, 0, TC_ACT_OK);
    if (z && p.ip->protocol == IPPROTO_UDP && p.ip->saddr == z->ip &&
        p.sport == bpf_htons(ZTUNNEL_DNS_PORT)) {
        struct dns_key k = {.addr = p.ip->daddr, .port = p.dport};
        struct dns_orig *o = bpf_map_lookup_elem(&dns_nat, &k);
        if (o) {
            struct dns_orig orig = *o;
            account(skb, P_ZTUNNEL_HOST_INGRESS, V_DNS, &p, 53, 0);
            if (rewrite_udp(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, saddr), z->ip,
                            orig.addr, p.l4off + offsetof(struct udphdr, source),
                            bpf_htons(ZTUNNEL_DNS_PORT), orig.port))
                return TC_ACT_SHOT;
            if (!parse(skb, &p)) return TC_ACT_SHOT;
        }
    }
    __u32 dst = p.ip->daddr;
    struct app_info *a = bpf_map_lookup_elem(&app_info, &dst);
    if (!a) return account(skb, P_ZTUNNEL_HOST_INGRESS, V_PASS, &p, 0, TC_ACT_OK);
    __u32 ifindex = a->ifindex;
    account(skb, P_ZTUNNEL_HOST_INGRESS, V_REDIRECT, &p, ifindex, 0);
    skb->cb[4] = BYPASS_CB;
    __u8 *m = a->mac;
#ifdef AMBIT_MARK_TPROXY
    /* No bpf_redirect_neigh: routed by the stack (app_inbound passes what ztunnel's veth got). */
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) return TC_ACT_OK;
#else
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) return bpf_redirect_neigh(ifindex, 0, 0, 0);
#endif
    if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), a->mac, 6, 0))
        return TC_ACT_SHOT;
    return bpf_redirect(ifindex, 0);
}

/*
 * In the ztunnel pod: OUTBOUND_CB or INBOUND_CB for a captured packet, 0 for ztunnel's own
 * traffic (to its address) and anything else (not ours).
 */
static __always_inline __u32 captured(struct __sk_buff *skb, struct pkt *p)
{
    struct ztunnel_info *z = ztunnel();
    if (z && p->ip->daddr == z->ip) return 0;
    __u32 cb = skb->cb[4];
    if (cb == OUTBOUND_CB || cb == INBOUND_CB) return cb;
    /* The cb did not survive the veth: tell the direction by the node's pods. */
    __u32 s = p->ip->saddr, d = p->ip->daddr;
    if (bpf_map_lookup_elem(&app_info, &s)) return OUTBOUND_CB;
    if (bpf_map_lookup_elem(&app_info, &d)) return INBOUND_CB;
    return 0;
}

#ifdef AMBIT_MARK_TPROXY
/*
 * The fallback: no socket lookup here. Every captured packet carries its direction's mark; the
 * TPROXY rules in the ztunnel pod give it to an established socket (the kernel looks those up
 * first) or to the listener, setting 0x400 for rule 20000. Fail closed: TPROXY drops what no
 * socket takes, and a marked packet no TPROXY rule took meets the blackhole rules 20001/20002.
 */
SEC("tc")
int ztunnel_ingress(struct __sk_buff *skb)
{
    struct pkt p = {};
    if (!parse(skb, &p) || p.ip->protocol != IPPROTO_TCP)
        return account(skb, P_ZTUNNEL_INGRESS, V_PASS, 0, 0, TC_ACT_OK);
    __u32 cb = captured(skb, &p);
    if (!cb) return account(skb, P_ZTUNNEL_INGRESS, V_PASS, &p, 0, TC_ACT_OK);
    skb->mark = cb == OUTBOUND_CB ? OUTBOUND_MARK : INBOUND_MARK;
    return account(skb, P_ZTUNNEL_INGRESS, V_MARK, &p, skb->mark, TC_ACT_OK);
}
#else
SEC("tc")
int ztunnel_tproxy(struct __sk_buff *skb)
{
    struct pkt p = {};
    if (!parse(skb, &p) || p.ip->protocol != IPPROTO_TCP)
        return account(skb, P_ZTUNNEL_TPROXY, V_PASS, 0, 0, TC_ACT_OK);
    __u32 cb = captured(skb, &p);
    if (!cb) return account(skb, P_ZTUNNEL_TPROXY, V_PASS, &p, 0, TC_ACT_OK);
    struct bpf_sock_tuple t = {};
    t.ipv4.saddr = p.ip->saddr;
    t.ipv4.daddr = p.ip->daddr;
    t.ipv4.sport = p.sport;
    t.ipv4.dport = p.dport;
    struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
    __u16 port = 0;
    if (sk && sk->state == BPF_TCP_LISTEN) {
        bpf_sk_release(sk);
        sk = 0;
    }
    if (!sk) {
        port = cb == OUTBOUND_CB                     ? ZTUNNEL_OUTBOUND_PORT
               : p.dport == bpf_htons(ZTUNNEL_INBOUND_PORT) ? ZTUNNEL_INBOUND_PORT
                                                     : ZTUNNEL_INBOUND_PLAINTEXT_PORT;
        t.ipv4.daddr = bpf_htonl(0x7f000001);
        t.ipv4.dport = bpf_htons(port);
        sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
        if (sk && sk->state != BPF_TCP_LISTEN) {
            bpf_sk_release(sk);
            sk = 0;
        }
    }
    p.sock = port ? 1 : 2;
    /* Fail closed: a captured packet no ztunnel socket takes is dropped, never routed. */
    if (!sk) return account(skb, P_ZTUNNEL_TPROXY, V_DROP, &p, port, TC_ACT_SHOT);
    long err = bpf_sk_assign(skb, sk, 0);
    bpf_sk_release(sk);
    if (err) return account(skb, P_ZTUNNEL_TPROXY, V_DROP, &p, port, TC_ACT_SHOT);
    skb->mark = TPROXY_MARK;
    return account(skb, P_ZTUNNEL_TPROXY, V_ASSIGN, &p, port ? port : bpf_ntohs(p.dport),
                   TC_ACT_OK);
}
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";
