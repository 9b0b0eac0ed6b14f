import sys, statistics as st, collections
d=collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith('#') or not line.strip(): continue
    p=line.split()
    if len(p)!=4: continue
    d[(p[0],p[1])].append((float(p[2]),float(p[3])))
for k in sorted(d, key=lambda k:(k[1],k[0])):
    v=d[k]; print(f"{k[1]:8s} {k[0]:10s} n={len(v)} MiB/s med {st.median(x[0] for x in v):6.0f} [{min(x[0] for x in v):.0f}-{max(x[0] for x in v):.0f}]  CPU s/GiB med {st.median(x[1] for x in v):.3f} [{min(x[1] for x in v):.3f}-{max(x[1] for x in v):.3f}]")
