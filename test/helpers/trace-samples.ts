import type { MonitorLine } from '../../src/sys/nftrace.js';

/**
 * Real `xtables-monitor --trace` output recorded on this machine (Debian 12, iptables 1.8.9 nft,
 * kernel 6.18) from the seeds fixture: every event of part 1 (sleep → ztunnel A) of one curl, in
 * receipt order, as `<netns>\t<line>`. The trace table name was normalised.
 */
export const PART1_SAMPLE = `
tr0000-sl	PACKET: 2 763021e5 OUT=eth0 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN 
tr0000-sl	 TRACE: 2 763021e5 ambit_trace_c0ffee:out_arm:rule:0xc:CONTINUE  -4 -t ambit_trace_c0ffee -A out_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-sl	 TRACE: 2 763021e5 ambit_trace_c0ffee:out_arm:policy:ACCEPT 
tr0000-sl	PACKET: 2 763021e5 OUT=eth0 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN 
tr0000-sl	 TRACE: 2 763021e5 ambit_trace_c0ffee:out_end:policy:ACCEPT 
tr0000-sl	PACKET: 2 ce25e952 IN=eth0 MACSRC=aa:72:41:8d:3e:f MACDST=d2:be:91:78:6d:24 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=63 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-sl	 TRACE: 2 ce25e952 ambit_trace_c0ffee:pre_arm:rule:0x6:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-sl	 TRACE: 2 ce25e952 ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-sl	PACKET: 2 ce25e952 IN=eth0 MACSRC=aa:72:41:8d:3e:f MACDST=d2:be:91:78:6d:24 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=63 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-sl	 TRACE: 2 ce25e952 ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-sl	PACKET: 2 c6786387 OUT=eth0 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=64 ID=29565 DF SPORT=41234 DPORT=8000 ACK 
tr0000-sl	 TRACE: 2 c6786387 ambit_trace_c0ffee:out_arm:rule:0xc:CONTINUE  -4 -t ambit_trace_c0ffee -A out_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-sl	 TRACE: 2 c6786387 ambit_trace_c0ffee:out_arm:policy:ACCEPT 
tr0000-sl	PACKET: 2 c6786387 OUT=eth0 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=64 ID=29565 DF SPORT=41234 DPORT=8000 ACK 
tr0000-sl	 TRACE: 2 c6786387 ambit_trace_c0ffee:out_end:policy:ACCEPT 
tr0000-zA	PACKET: 2 a4762020 IN=pistioout MACSRC=f6:a0:96:e7:e:88 MACDST=e2:66:cf:72:d0:43 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN 
tr0000-zA	 TRACE: 2 a4762020 ambit_trace_c0ffee:pre_arm:rule:0x5:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-zA	 TRACE: 2 a4762020 ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-zA	PACKET: 2 a4762020 IN=pistioout MACSRC=f6:a0:96:e7:e:88 MACDST=e2:66:cf:72:d0:43 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x400 
tr0000-zA	 TRACE: 2 a4762020 mangle:PREROUTING:rule:0x3:ACCEPT  -4 -t mangle -A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff
tr0000-zA	PACKET: 2 a4762020 IN=pistioout MACSRC=f6:a0:96:e7:e:88 MACDST=e2:66:cf:72:d0:43 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x400 
tr0000-zA	 TRACE: 2 a4762020 ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-zA	PACKET: 2 4ba9fe89 OUT=eth0 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=64 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-zA	 TRACE: 2 4ba9fe89 ambit_trace_c0ffee:out_arm:rule:0xd:CONTINUE  -4 -t ambit_trace_c0ffee -A out_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-zA	 TRACE: 2 4ba9fe89 ambit_trace_c0ffee:out_arm:policy:ACCEPT 
tr0000-zA	PACKET: 2 4ba9fe89 OUT=eth0 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=64 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-zA	 TRACE: 2 4ba9fe89 ambit_trace_c0ffee:out_end:policy:ACCEPT 
tr0000-zA	PACKET: 2 889b799b IN=eth0 MACSRC=12:d5:81:cc:8:82 MACDST=3e:dd:de:f8:d9:a5 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK 
tr0000-zA	 TRACE: 2 889b799b ambit_trace_c0ffee:pre_arm:rule:0x5:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-zA	 TRACE: 2 889b799b ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-zA	PACKET: 2 889b799b IN=eth0 MACSRC=12:d5:81:cc:8:82 MACDST=3e:dd:de:f8:d9:a5 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x4d3 
tr0000-zA	 TRACE: 2 889b799b mangle:PREROUTING:rule:0x5:CONTINUE  -4 -t mangle -A PREROUTING ! -d 10.244.2.3/32 -i eth0 -p tcp -j MARK --set-xmark 0x4d3/0xfff
tr0000-zA	 TRACE: 2 889b799b mangle:PREROUTING:policy:ACCEPT 
tr0000-zA	PACKET: 2 889b799b IN=eth0 MACSRC=12:d5:81:cc:8:82 MACDST=3e:dd:de:f8:d9:a5 MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x4d3 
tr0000-zA	 TRACE: 2 889b799b ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN 
tr0000-w2	 TRACE: 2 75334c21 ambit_trace_c0ffee:pre_arm:rule:0x5:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-w2	 TRACE: 2 75334c21 ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN 
tr0000-w2	 TRACE: 2 75334c21 mangle:PREROUTING:rule:0x7:JUMP:ztunnel-PREROUTING  -4 -t mangle -A PREROUTING -j ztunnel-PREROUTING
tr0000-w2	 TRACE: 2 75334c21 mangle:ztunnel-PREROUTING:rule:0x1e:CONTINUE  -4 -t mangle -A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100
tr0000-w2	 TRACE: 2 75334c21 mangle:PREROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 nat:PREROUTING:rule:0x5:JUMP:ztunnel-PREROUTING  -4 -t nat -A PREROUTING -j ztunnel-PREROUTING
tr0000-w2	 TRACE: 2 75334c21 nat:ztunnel-PREROUTING:rule:0x9:ACCEPT  -4 -t nat -A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=64 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b OUT=istioout MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 mangle:FORWARD:rule:0x9:JUMP:ztunnel-FORWARD  -4 -t mangle -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 75334c21 mangle:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b OUT=istioout MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 filter:FORWARD:rule:0x3:JUMP:ztunnel-FORWARD  -4 -t filter -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 75334c21 filter:ztunnel-FORWARD:rule:0x4:ACCEPT  -4 -t filter -A ztunnel-FORWARD -m mark --mark 0x100/0x100 -j ACCEPT
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b OUT=istioout MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 mangle:POSTROUTING:rule:0xf:JUMP:ztunnel-POSTROUTING  -4 -t mangle -A POSTROUTING -j ztunnel-POSTROUTING
tr0000-w2	 TRACE: 2 75334c21 mangle:POSTROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 75334c21 IN=vethbda3de4b OUT=istioout MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=60 TOS=0x0 TTL=63 ID=29564 DF SPORT=41234 DPORT=8000 SYN MARK=0x100 
tr0000-w2	 TRACE: 2 75334c21 nat:POSTROUTING:rule:0x8:JUMP:ztunnel-POSTROUTING  -4 -t nat -A POSTROUTING -j ztunnel-POSTROUTING
tr0000-w2	 TRACE: 2 75334c21 nat:ztunnel-POSTROUTING:rule:0xa:ACCEPT  -4 -t nat -A ztunnel-POSTROUTING -m mark --mark 0x100/0x100 -j ACCEPT
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=64 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-w2	 TRACE: 2 442a88dc ambit_trace_c0ffee:pre_arm:rule:0x6:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-w2	 TRACE: 2 442a88dc ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=64 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK 
tr0000-w2	 TRACE: 2 442a88dc mangle:PREROUTING:rule:0x7:JUMP:ztunnel-PREROUTING  -4 -t mangle -A PREROUTING -j ztunnel-PREROUTING
tr0000-w2	 TRACE: 2 442a88dc mangle:ztunnel-PREROUTING:rule:0x19:CONTINUE  -4 -t mangle -A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i veth51e3b96d -j MARK --set-xmark 0x210/0x210
tr0000-w2	 TRACE: 2 442a88dc mangle:ztunnel-PREROUTING:rule:0x1a:0xfffffffb  -4 -t mangle -A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN
tr0000-w2	 TRACE: 2 442a88dc mangle:PREROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=64 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK MARK=0x210 
tr0000-w2	 TRACE: 2 442a88dc ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=63 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK MARK=0x210 
tr0000-w2	 TRACE: 2 442a88dc mangle:FORWARD:rule:0x9:JUMP:ztunnel-FORWARD  -4 -t mangle -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 442a88dc mangle:ztunnel-FORWARD:rule:0x20:CONTINUE  -4 -t mangle -A ztunnel-FORWARD -m mark --mark 0x210/0x210 -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210
tr0000-w2	 TRACE: 2 442a88dc mangle:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=63 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK MARK=0x210 
tr0000-w2	 TRACE: 2 442a88dc filter:FORWARD:rule:0x3:JUMP:ztunnel-FORWARD  -4 -t filter -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 442a88dc filter:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 442a88dc IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=60 TOS=0x0 TTL=63 ID=0 DF SPORT=8000 DPORT=41234 SYN ACK MARK=0x210 
tr0000-w2	 TRACE: 2 442a88dc mangle:POSTROUTING:rule:0xf:JUMP:ztunnel-POSTROUTING  -4 -t mangle -A POSTROUTING -j ztunnel-POSTROUTING
tr0000-w2	 TRACE: 2 442a88dc mangle:POSTROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=64 ID=29565 DF SPORT=41234 DPORT=8000 ACK 
tr0000-w2	 TRACE: 2 08d84863 ambit_trace_c0ffee:pre_arm:rule:0x5:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -s 10.244.2.8/32 -p tcp -m tcp --sport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-w2	 TRACE: 2 08d84863 ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=64 ID=29565 DF SPORT=41234 DPORT=8000 ACK 
tr0000-w2	 TRACE: 2 08d84863 mangle:PREROUTING:rule:0x7:JUMP:ztunnel-PREROUTING  -4 -t mangle -A PREROUTING -j ztunnel-PREROUTING
tr0000-w2	 TRACE: 2 08d84863 mangle:ztunnel-PREROUTING:rule:0x17:CONTINUE  -4 -t mangle -A ztunnel-PREROUTING ! -i veth51e3b96d -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40
tr0000-w2	 TRACE: 2 08d84863 mangle:ztunnel-PREROUTING:rule:0x18:0xfffffffb  -4 -t mangle -A ztunnel-PREROUTING -m mark --mark 0x40/0x40 -j RETURN
tr0000-w2	 TRACE: 2 08d84863 mangle:PREROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=64 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x40 
tr0000-w2	 TRACE: 2 08d84863 ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b OUT=veth51e3b96d MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x40 
tr0000-w2	 TRACE: 2 08d84863 mangle:FORWARD:rule:0x9:JUMP:ztunnel-FORWARD  -4 -t mangle -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 08d84863 mangle:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b OUT=veth51e3b96d MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x40 
tr0000-w2	 TRACE: 2 08d84863 filter:FORWARD:rule:0x3:JUMP:ztunnel-FORWARD  -4 -t filter -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 08d84863 filter:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 08d84863 IN=vethbda3de4b OUT=veth51e3b96d MACSRC=d2:be:91:78:6d:24 MACDST=aa:72:41:8d:3e:f MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=29565 DF SPORT=41234 DPORT=8000 ACK MARK=0x40 
tr0000-w2	 TRACE: 2 08d84863 mangle:POSTROUTING:rule:0xf:JUMP:ztunnel-POSTROUTING  -4 -t mangle -A POSTROUTING -j ztunnel-POSTROUTING
tr0000-w2	 TRACE: 2 08d84863 mangle:POSTROUTING:policy:ACCEPT 
tr0000-zA	PACKET: 2 10836b42 OUT=eth0 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=64 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-zA	 TRACE: 2 10836b42 ambit_trace_c0ffee:out_arm:rule:0xd:CONTINUE  -4 -t ambit_trace_c0ffee -A out_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-zA	 TRACE: 2 10836b42 ambit_trace_c0ffee:out_arm:policy:ACCEPT 
tr0000-zA	PACKET: 2 10836b42 OUT=eth0 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=64 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-zA	 TRACE: 2 10836b42 ambit_trace_c0ffee:out_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=64 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-w2	 TRACE: 2 a956bbef ambit_trace_c0ffee:pre_arm:rule:0x6:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-w2	 TRACE: 2 a956bbef ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=64 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-w2	 TRACE: 2 a956bbef mangle:PREROUTING:rule:0x7:JUMP:ztunnel-PREROUTING  -4 -t mangle -A PREROUTING -j ztunnel-PREROUTING
tr0000-w2	 TRACE: 2 a956bbef mangle:ztunnel-PREROUTING:rule:0x19:CONTINUE  -4 -t mangle -A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i veth51e3b96d -j MARK --set-xmark 0x210/0x210
tr0000-w2	 TRACE: 2 a956bbef mangle:ztunnel-PREROUTING:rule:0x1a:0xfffffffb  -4 -t mangle -A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN
tr0000-w2	 TRACE: 2 a956bbef mangle:PREROUTING:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=64 ID=41895 DF SPORT=8000 DPORT=41234 ACK MARK=0x210 
tr0000-w2	 TRACE: 2 a956bbef ambit_trace_c0ffee:pre_end:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=63 ID=41895 DF SPORT=8000 DPORT=41234 ACK MARK=0x210 
tr0000-w2	 TRACE: 2 a956bbef mangle:FORWARD:rule:0x9:JUMP:ztunnel-FORWARD  -4 -t mangle -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 a956bbef mangle:ztunnel-FORWARD:rule:0x20:CONTINUE  -4 -t mangle -A ztunnel-FORWARD -m mark --mark 0x210/0x210 -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210
tr0000-w2	 TRACE: 2 a956bbef mangle:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=63 ID=41895 DF SPORT=8000 DPORT=41234 ACK MARK=0x210 
tr0000-w2	 TRACE: 2 a956bbef filter:FORWARD:rule:0x3:JUMP:ztunnel-FORWARD  -4 -t filter -A FORWARD -j ztunnel-FORWARD
tr0000-w2	 TRACE: 2 a956bbef filter:FORWARD:policy:ACCEPT 
tr0000-w2	PACKET: 2 a956bbef IN=veth51e3b96d OUT=vethbda3de4b MACSRC=3e:dd:de:f8:d9:a5 MACDST=12:d5:81:cc:8:82 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=63 ID=41895 DF SPORT=8000 DPORT=41234 ACK MARK=0x210 
tr0000-w2	 TRACE: 2 a956bbef mangle:POSTROUTING:rule:0xf:JUMP:ztunnel-POSTROUTING  -4 -t mangle -A POSTROUTING -j ztunnel-POSTROUTING
tr0000-w2	 TRACE: 2 a956bbef mangle:POSTROUTING:policy:ACCEPT 
tr0000-sl	PACKET: 2 6949ac7a IN=eth0 MACSRC=aa:72:41:8d:3e:f MACDST=d2:be:91:78:6d:24 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=63 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-sl	 TRACE: 2 6949ac7a ambit_trace_c0ffee:pre_arm:rule:0x6:CONTINUE  -4 -t ambit_trace_c0ffee -A pre_arm -d 10.244.2.8/32 -p tcp -m tcp --dport 41234 -m limit --limit 1/sec --limit-burst 2 -j TRACE
tr0000-sl	 TRACE: 2 6949ac7a ambit_trace_c0ffee:pre_arm:policy:ACCEPT 
tr0000-sl	PACKET: 2 6949ac7a IN=eth0 MACSRC=aa:72:41:8d:3e:f MACDST=d2:be:91:78:6d:24 MACPROTO=0800 SRC=10.96.0.105 DST=10.244.2.8 LEN=52 TOS=0x0 TTL=63 ID=41895 DF SPORT=8000 DPORT=41234 ACK 
tr0000-sl	 TRACE: 2 6949ac7a ambit_trace_c0ffee:pre_end:policy:ACCEPT 
`;

/** The sample as monitor lines, in receipt order. */
export function sampleLines(text = PART1_SAMPLE): MonitorLine[] {
  return text
    .split('\n')
    .filter((l) => l.includes('\t'))
    .map((l, i) => {
      const [netns, t] = l.split('\t');
      return { seq: i + 1, netns: netns!, text: t! };
    });
}
