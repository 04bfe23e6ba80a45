import sys
sys.path.insert(0, "/tmp/proto"); sys.path.insert(0, "/work/main/benchmarks")
if __name__ == "__main__":
    import proto_tl, kang_seeds
    kang_seeds._init = proto_tl.proto_init
    kang_seeds.main()
