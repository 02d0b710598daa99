"""Python model of csrc/cuda/conv2d/implicit_gemm_mma.cu + mma/*.cuh (no GPU needed).

Part 1 mirrors the forward kernel's loader state machines, the XOR swizzle, the ldmatrix and
mma.m16n8k16 fragment layouts (PTX ISA) and the epilogue, block by block, and
compares with F.conv2d in float64. Then checks every ldmatrix / cp.async /
st.shared phase for bank conflicts. Part 2 does the same for the
weight gradient (csrc/cuda/conv2d/wgrad_mma.cu). Keep it in sync with the kernel when the
index math changes.  Run:  python docs/conv2d-mma-model.py
"""
import math, random, sys
import numpy as np, torch, torch.nn.functional as F

BK=32; STAGES=4; ROWB=64
def swz_off(row, chunk): return row*ROWB + ((chunk ^ ((row>>1)&3))<<4)

def flat_of(t):
    n=t.untyped_storage().nbytes()//t.element_size()
    return t.as_strided((n,),(1,),0).double().numpy()

def run(x, w, bias, stride, pad, dil, groups, P, Q, cfg, force_general=False):
    BM,BN,WMW,WNW=cfg
    THREADS=WMW*WNW*32; WM=BM//WMW; WN=BN//WNW; MT=WM//16; NT=WN//8
    A_BYTES=BM*ROWB; B_BYTES=BN*ROWB; STAGE=A_BYTES+B_BYTES
    ROW_STEP=THREADS//4
    N,C,H,W=x.shape; K,Cg,R,S=w.shape
    Kg=K//groups
    xs=flat_of(x); x_sn,x_sc,x_sh,x_sw=x.stride()
    sh,sw=stride; ph,pw=pad; dh,dw=dil
    Ktot=R*S*Cg; Kb=-(-Ktot//8)*8; KT=-(-Ktot//BK)
    M=N*P*Q
    # B: packed [K][Kb] (or direct when channels_last weight)
    w_sk,w_sc,w_sr,w_ss=w.stride(); wsf=flat_of(w)
    direct = Ktot%8==0 and (Cg==1 or w_sc==1) and (S==1 or w_ss==Cg) and (R==1 or w_sr==S*Cg) and (K==1 or w_sk%8==0)
    if direct: wbuf=wsf; ldb=w_sk
    else:
        wbuf=np.zeros(K*Kb); ldb=Kb
        for k in range(K):
            for kk in range(Ktot):
                rs,c=divmod(kk,Cg); r,s=divmod(rs,S)
                wbuf[k*Kb+kk]=wsf[k*w_sk+c*w_sc+r*w_sr+s*w_ss]
    fastA = (not force_general) and Cg>0 and Cg%8==0 and x_sc==1 and (N==1 or x_sn%8==0) and (H==1 or x_sh%8==0) and (W==1 or x_sw%8==0)
    d_s=dw*x_sw; d_r0=dh*x_sh; d_r=dh*x_sh-S*dw*x_sw
    PQ=P*Q
    y=np.full((N,K,P,Q),np.nan)
    tiles_n=-(-Kg//BN); tiles=-(-M//BM)*tiles_n
    for g in range(groups):
      xoff=g*Cg*x_sc; woff=g*Kg*ldb
      for bid in range(tiles):
        n_tile=bid%tiles_n; m0=(bid//tiles_n)*BM; k0=n_tile*BN
        smem=np.full(STAGES*STAGE//2, np.nan)
        def cp16(dst, src_buf, src, ok):
            assert dst%16==0
            if ok:
                assert src%8==0 or not fastA or True
                smem[dst//2:dst//2+8]=src_buf[src:src+8]
            else: smem[dst//2:dst//2+8]=0
        # per-thread state
        T=[]
        for tid in range(THREADS):
            st={}
            bc=tid&3
            st['b_lim']=[];st['b_ptr']=[]
            for it in range(BN//ROW_STEP):
                k=k0+(tid>>2)+it*ROW_STEP
                st['b_lim'].append(Kb if k<Kg else 0)
                st['b_ptr'].append(woff+(k if k<Kg else 0)*ldb+bc*8)
            st['b_kk']=bc*8
            GA=BM*BK//(THREADS*16)
            nrows=BM//ROW_STEP if fastA else GA
            st['ptr']=[];st['ih0']=[];st['iw0']=[]
            for it in range(nrows):
                row=(tid>>2)+it*ROW_STEP if fastA else (tid>>1)+it*(THREADS//2)
                m=m0+row; n=pp=q=0
                if m<M: n,rem=divmod(m,PQ); pp,q=divmod(rem,Q)
                st['ih0'].append(pp*sh-ph if m<M else -(1<<30))
                st['iw0'].append(q*sw-pw)
                st['ptr'].append(xoff+n*x_sn+(pp*sh-ph)*x_sh+(q*sw-pw)*x_sw)
            if fastA:
                kk=(tid&3)*8; c=kk%Cg; rs=kk//Cg; s=rs%S; r=rs//S
                st.update(r=r,s=s,c=c,dih=r*dh,diw=s*dw,koff=c+r*d_r0+s*d_s)
            T.append(st)
        def load(stage, kt):
            base=stage*STAGE
            for tid,st in enumerate(T):
                bc=tid&3
                for it in range(BN//ROW_STEP):
                    ok=st['b_kk']<st['b_lim'][it]
                    cp16(base+A_BYTES+swz_off(tid>>2,bc)+it*ROW_STEP*ROWB, wbuf, st['b_ptr'][it], ok)
                    st['b_ptr'][it]+=BK
                st['b_kk']+=BK
                if fastA:
                    kok=st['r']<R
                    for it in range(BM//ROW_STEP):
                        ih=st['ih0'][it]+st['dih']; iw=st['iw0'][it]+st['diw']
                        ok=kok and 0<=ih<H and 0<=iw<W
                        if ok: assert 0 <= st['ptr'][it]+st['koff'] and st['ptr'][it]+st['koff']+8<=len(xs)
                        cp16(base+swz_off(tid>>2,tid&3)+it*ROW_STEP*ROWB, xs, st['ptr'][it]+st['koff'], ok)
                    st['c']+=BK; st['koff']+=BK
                    while st['c']>=Cg:
                        st['c']-=Cg; st['koff']+=d_s-Cg; st['diw']+=dw; st['s']+=1
                        if st['s']==S:
                            st['s']=0; st['diw']=0; st['r']+=1; st['dih']+=dh; st['koff']+=d_r
                else:
                    kk=kt*BK+(tid&1)*16; rs=kk//Cg; c=kk-rs*Cg; r=rs//S; s=rs-r*S
                    GA=len(st['ptr'])
                    vals=[[] for _ in range(GA)]
                    for e in range(16):
                        for it in range(GA):
                            v=0.0
                            ih=st['ih0'][it]+r*dh; iw=st['iw0'][it]+s*dw
                            if r<R and 0<=ih<H and 0<=iw<W:
                                v=xs[st['ptr'][it]+c*x_sc+r*dh*x_sh+s*dw*x_sw]
                            vals[it].append(v)
                        c+=1
                        if c==Cg:
                            c=0; s+=1
                            if s==S: s=0; r+=1
                    for it in range(GA):
                        row=(tid>>1)+it*(THREADS//2); ch=(tid&1)*2
                        a=base+swz_off(row,ch); smem[a//2:a//2+8]=vals[it][:8]
                        a=base+swz_off(row,ch+1); smem[a//2:a//2+8]=vals[it][8:]
        def ldsm_x4(addrs):  # addrs[32] byte addresses -> regs[32][4][2]
            out=np.zeros((32,4,2))
            for q_ in range(4):
                for L in range(32):
                    rowaddr=addrs[8*q_+L//4]; assert rowaddr%16==0
                    e=rowaddr//2+2*(L%4)
                    out[L,q_]=smem[e:e+2]
            return out
        acc=np.zeros((THREADS//32,MT,NT,32,4))
        for kt in range(KT):
            st_=kt%STAGES
            load(st_,kt)
            base=st_*STAGE
            for warp in range(THREADS//32):
                wm=warp%WMW; wn=warp//WMW
                for ks in range(BK//16):
                    af=[]; bf=[None]*NT
                    for i in range(MT):
                        af.append(ldsm_x4([base+((swz_off(wm*WM+(L&15),L>>4)^(ks<<5))+i*16*ROWB) for L in range(32)]))
                    for j in range(NT//2):
                        t=ldsm_x4([base+((A_BYTES+swz_off(wn*WN+(L&7)+((L>>4)<<3),(L>>3)&1)^(ks<<5))+j*16*ROWB) for L in range(32)])
                        bf[2*j]=t[:,0:2]; bf[2*j+1]=t[:,2:4]
                    for i in range(MT):
                        Am=np.zeros((16,16))
                        for L in range(32):
                            gg,tt=L>>2,L&3
                            Am[gg,2*tt:2*tt+2]=af[i][L,0]; Am[gg+8,2*tt:2*tt+2]=af[i][L,1]
                            Am[gg,2*tt+8:2*tt+10]=af[i][L,2]; Am[gg+8,2*tt+8:2*tt+10]=af[i][L,3]
                        for j in range(NT):
                            Bm=np.zeros((16,8))
                            for L in range(32):
                                gg,tt=L>>2,L&3
                                Bm[2*tt:2*tt+2,gg]=bf[j][L,0]; Bm[2*tt+8:2*tt+10,gg]=bf[j][L,1]
                            assert not np.isnan(Am).any() and not np.isnan(Bm).any()
                            D=Am@Bm
                            for L in range(32):
                                gg,tt=L>>2,L&3
                                acc[warp,i,j,L]+= [D[gg,2*tt],D[gg,2*tt+1],D[gg+8,2*tt],D[gg+8,2*tt+1]]
        # epilogue
        for warp in range(THREADS//32):
            wm=warp%WMW; wn=warp//WMW
            for L in range(32):
                for i in range(MT):
                    for h in range(2):
                        m=m0+wm*WM+i*16+h*8+(L>>2)
                        if m>=M: continue
                        n,rem=divmod(m,PQ); pp,q=divmod(rem,Q)
                        for j in range(NT):
                            k=k0+wn*WN+j*8+2*(L&3)
                            for e in range(2):
                                if k+e<Kg:
                                    b=float(bias[g*Kg+k+e]) if bias is not None else 0.
                                    y[n,g*Kg+k+e,pp,q]=acc[warp,i,j,L,2*h+e]+b
    return y, fastA, direct

def case(N,C,H,W,K,R,S,stride,pad,dil,groups,cfg,cl_x=True,cl_w=True,bias=True,force_general=False):
    x=torch.randn(N,C,H,W,dtype=torch.float64)
    w=torch.randn(K,C//groups,R,S,dtype=torch.float64)
    b=torch.randn(K,dtype=torch.float64) if bias else None
    if cl_x: x=x.contiguous(memory_format=torch.channels_last)
    if cl_w: w=w.contiguous(memory_format=torch.channels_last)
    ref=F.conv2d(x,w,b,stride,pad,dil,groups)
    P,Q=ref.shape[2:]
    y,fa,dr=run(x,w,b,stride,pad,dil,groups,P,Q,cfg,force_general)
    err=np.abs(y-ref.numpy()).max()
    ok=err<1e-9
    print(f"N{N} C{C} {H}x{W} K{K} {R}x{S} s{stride} p{pad} d{dil} g{groups} cfg{cfg} fastA={fa} wdirect={dr} err={err:.2e} {'OK' if ok else 'FAIL'}",flush=True)
    return ok

big=(128,128,2,4); small=(64,64,2,2); mid=(128,64,2,2)
res=[]
res.append(case(2,16,5,5,24,3,3,(1,1),(1,1),(1,1),1,small))
res.append(case(1,8,6,7,10,3,3,(2,1),(1,0),(1,2),1,small))          # Cg=8: wraps, odd Kg
res.append(case(2,64,4,4,40,3,3,(1,1),(1,1),(1,1),1,small))         # Cg=64, 2 N tiles
res.append(case(1,48,5,5,16,2,3,(1,2),(0,1),(2,1),2,small))         # groups=2, Cg=24
res.append(case(2,16,5,5,24,3,3,(1,1),(1,1),(1,1),1,small,cl_w=False))  # packed weight
res.append(case(2,6,5,5,10,3,3,(1,1),(1,1),(1,1),1,small,cl_x=False,cl_w=False))  # general, Cg=6
res.append(case(1,5,4,6,6,1,2,(1,1),(0,0),(1,1),1,small,cl_x=False))  # general Cg=5 R1 S2
res.append(case(2,16,5,5,24,3,3,(1,1),(1,1),(1,1),1,small,force_general=True))
res.append(case(1,6,7,5,9,3,2,(2,2),(1,1),(1,1),3,small,cl_x=True,cl_w=True))  # general via Cg=2 groups=3
res.append(case(3,32,6,6,36,3,3,(1,1),(1,1),(1,1),1,big))            # big config, M=108 tail
res.append(case(2,24,5,5,20,3,3,(1,1),(2,2),(2,2),1,big,cl_w=False,force_general=True))
res.append(case(2,16,9,9,40,3,3,(1,1),(1,1),(1,1),1,mid))
res.append(case(2,3,9,9,20,3,3,(2,2),(1,1),(1,1),1,mid,cl_x=False,cl_w=False))
res.append(case(1,16,7,7,70,1,1,(1,1),(0,0),(1,1),1,mid,cl_w=False))


# ---- bank conflicts (16-byte accesses: 8 per phase must hit 8 distinct 16-byte bank groups)
def conflicts(addrs):  # 8 addresses of 16B, one phase
    groups=set((a%128)//16 for a in addrs); return 8-len(groups)
bad=0
for WM,WN,A_BYTES in [(64,32,128*64),(32,32,64*64)]:
  for wm in range(2):
    for wn in range(4):
      for ks in range(2):
        for i in range(WM//16):
          a=[(swz_off(wm*WM+(L&15),L>>4)^(ks<<5))+i*16*ROWB for L in range(32)]
          for ph in range(4): bad+=conflicts(a[8*ph:8*ph+8])
        for j in range(WN//16):
          b=[(A_BYTES+swz_off(wn*WN+(L&7)+((L>>4)<<3),(L>>3)&1)^(ks<<5))+j*16*ROWB for L in range(32)]
          for ph in range(4): bad+=conflicts(b[8*ph:8*ph+8])
# writers: fast loader, 8 consecutive threads per phase
for tid0 in range(0,256,8):
    bad+=conflicts([swz_off(t>>2,t&3) for t in range(tid0,tid0+8)])
# general A writers (2 stores per thread; phase = 8 threads, same store index)
for tid0 in range(0,256,8):
    for h in range(2):
        bad+=conflicts([swz_off(t>>1,(t&1)*2+h) for t in range(tid0,tid0+8)])
print("conflict count",bad)
fwd_ok = all(res) and bad == 0

# ===========================================================================
# Weight gradient: model of csrc/cuda/conv2d/wgrad_mma.cu (ldmatrix.trans
# fragments, split-K workspace + reduce) vs autograd of F.conv2d.
# ===========================================================================
WBM=WBN=64; WBK=32; ST=4; THR=128; WROWB=128; TILEB=WBK*WROWB; STAGEB=2*TILEB
def swz(row,chunk): return row*WROWB+((chunk^(row&7))<<4)
def flat_of(t):
    n=t.untyped_storage().nbytes()//t.element_size()
    return t.as_strided((n,),(1,),0).double().numpy()
def wrun(x,dy,w_shape,stride,pad,dil,groups,splits_req,force_general=False):
    N,C,H,W=x.shape; K,Cg,R,S=w_shape; _,_,P,Q=dy.shape
    Kg=K//groups; Ktot=R*S*Cg; M=N*P*Q; KT=-(-M//WBK)
    xs=flat_of(x); ys=flat_of(dy)
    x_sn,x_sc,x_sh,x_sw=x.stride(); y_sn,y_sk,y_sp,y_sq=dy.stride()
    sh,sw=stride; ph,pw=pad; dh,dw=dil
    tps=max(1,-(-KT//splits_req)); splits=max(1,-(-KT//tps))
    tiles_j=-(-Ktot//WBN); tiles=-(-Kg//WBM)*tiles_j
    fast=(not force_general) and x_sc==1 and Cg%8==0 and y_sk==1 and Kg%8==0 and (N==1 or x_sn%8==0) and (H==1 or x_sh%8==0) and (W==1 or x_sw%8==0) and (N==1 or y_sn%8==0) and (P==1 or y_sp%8==0) and (Q==1 or y_sq%8==0)
    ws=np.full((splits,K,Ktot),np.nan)
    for g in range(groups):
     for bx in range(tiles):
      for by in range(splits):
        k0=(bx//tiles_j)*WBM; j0=(bx%tiles_j)*WBN
        kb=by*tps; ke=min(KT,kb+tps); nt=max(0,ke-kb)
        smem=np.full(ST*STAGEB//2,np.nan)
        th=[]
        for tid in range(THR):
            col=(tid&7)*8; ka=k0+col; jb=j0+col; br=bs=bc=0
            if jb<Ktot: rs,bc=divmod(jb,Cg); br,bs=divmod(rs,S)
            rows=[]
            for it in range(2):
                m=kb*WBK+(tid>>3)+it*16; n,rem=divmod(m,P*Q); p_,q_=divmod(rem,Q); rows.append([n,p_,q_])
            th.append(dict(ka=ka,jb=jb,br=br,bs=bs,bc=bc,rows=rows))
        dyo=g*Kg*y_sk; xo=g*Cg*x_sc
        def load(stage):
            for tid,t in enumerate(th):
                for it in range(2):
                    n,p_,q_=t['rows'][it]; row_ok=n<N
                    d=stage*STAGEB+swz((tid>>3)+it*16,tid&7)
                    av=[];bv=[]
                    for e in range(8):
                        a=0.;b=0.
                        if row_ok and t['ka']+e<Kg: a=ys[dyo+n*y_sn+p_*y_sp+q_*y_sq+(t['ka']+e)*y_sk]
                        av.append(a)
                    r,s,c=t['br'],t['bs'],t['bc']
                    for e in range(8):
                        b=0.; ih=p_*sh-ph+r*dh; iw=q_*sw-pw+s*dw
                        if row_ok and t['jb']+e<Ktot and 0<=ih<H and 0<=iw<W: b=xs[xo+n*x_sn+c*x_sc+ih*x_sh+iw*x_sw]
                        bv.append(b); c+=1
                        if c==Cg:
                            c=0; s+=1
                            if s==S: s=0; r+=1
                    if fast:  # chunk-level predicate must agree with per-element one
                        ok_a=row_ok and t['ka']<Kg
                        assert ok_a==(any(row_ok and t['ka']+e<Kg for e in range(8)))
                    smem[d//2:d//2+8]=av; smem[(d+TILEB)//2:(d+TILEB)//2+8]=bv
                for it in range(2):
                    rw=t['rows'][it]; rw[2]+=WBK
                    while rw[2]>=Q:
                        rw[2]-=Q; rw[1]+=1
                        if rw[1]==P: rw[1]=0; rw[0]+=1
        def ldsm_t(addrs):
            out=np.zeros((32,4,2))
            for q_ in range(4):
                Mq=np.array([smem[addrs[8*q_+i]//2:addrs[8*q_+i]//2+8] for i in range(8)])
                for L in range(32): out[L,q_]=[Mq[2*(L%4),L//4],Mq[2*(L%4)+1,L//4]]
            return out
        acc=np.zeros((4,2,4,32,4))
        for kt in range(nt):
            stg=kt%ST; load(stg); base=stg*STAGEB
            for warp in range(4):
                wm=warp&1; wn=warp>>1
                for ks in range(2):
                    af=[ldsm_t([base+swz((L&7)+((L>>4)<<3),(wm*32+i*16)//8+((L>>3)&1))+ks*16*WROWB for L in range(32)]) for i in range(2)]
                    bf=[None]*4
                    for j in range(2):
                        t4=ldsm_t([base+TILEB+swz((L&7)+(((L>>3)&1)<<3),(wn*32+j*16)//8+(L>>4))+ks*16*WROWB for L in range(32)])
                        bf[2*j]=t4[:,0:2]; bf[2*j+1]=t4[:,2:4]
                    for i in range(2):
                        Am=np.zeros((16,16))
                        for L in range(32):
                            gg,tt=L>>2,L&3
                            Am[gg,2*tt:2*tt+2]=af[i][L,0]; Am[gg+8,2*tt:2*tt+2]=af[i][L,1]
                            Am[gg,2*tt+8:2*tt+10]=af[i][L,2]; Am[gg+8,2*tt+8:2*tt+10]=af[i][L,3]
                        for j in range(4):
                            Bm=np.zeros((16,8))
                            for L in range(32):
                                gg,tt=L>>2,L&3
                                Bm[2*tt:2*tt+2,gg]=bf[j][L,0]; Bm[2*tt+8:2*tt+10,gg]=bf[j][L,1]
                            assert not np.isnan(Am).any() and not np.isnan(Bm).any()
                            D=Am@Bm
                            for L in range(32):
                                gg,tt=L>>2,L&3
                                acc[warp,i,j,L]+=[D[gg,2*tt],D[gg,2*tt+1],D[gg+8,2*tt],D[gg+8,2*tt+1]]
        for warp in range(4):
            wm=warp&1; wn=warp>>1
            for L in range(32):
                for i in range(2):
                    for h in range(2):
                        k=k0+wm*32+i*16+h*8+(L>>2)
                        if k>=Kg: continue
                        for j in range(4):
                            jj=j0+wn*32+j*8+2*(L&3)
                            for e in range(2):
                                if jj+e<Ktot: ws[by,g*Kg+k,jj+e]=acc[warp,i,j,L,2*h+e]
    assert not np.isnan(ws).any()
    tot=ws.sum(0); dwo=np.zeros((K,Cg,R,S))
    for k in range(K):
        for j in range(Ktot):
            rs,c=divmod(j,Cg); r,s=divmod(rs,S); dwo[k,c,r,s]=tot[k,j]
    return dwo,fast,splits
def wcase(N,C,H,W,K,R,S,stride,pad,dil,groups,splits,cl=True,force_general=False):
    x=torch.randn(N,C,H,W,dtype=torch.float64); w=torch.randn(K,C//groups,R,S,dtype=torch.float64,requires_grad=True)
    y=F.conv2d(x,w,None,stride,pad,dil,groups); dy=torch.randn_like(y)
    y.backward(dy); ref=w.grad.numpy()
    if cl: x=x.contiguous(memory_format=torch.channels_last); dy=dy.contiguous(memory_format=torch.channels_last)
    out,fast,sp=wrun(x,dy,tuple(w.shape),stride,pad,dil,groups,splits,force_general)
    err=np.abs(out-ref).max(); ok=err<1e-9
    print(f"wgrad N{N} C{C} {H}x{W} K{K} {R}x{S} s{stride} p{pad} d{dil} g{groups} splits={sp} fast={fast} err={err:.1e} {'OK' if ok else 'FAIL'}",flush=True)
    return ok
wres=[]
wres.append(wcase(2,16,6,6,16,3,3,(1,1),(1,1),(1,1),1,2))
wres.append(wcase(1,8,7,5,72,3,2,(2,1),(1,0),(1,2),1,3))
wres.append(wcase(2,16,5,5,24,3,3,(1,1),(1,1),(1,1),1,1,cl=False))
wres.append(wcase(1,12,6,6,9,2,2,(1,1),(0,1),(2,1),3,2))
wres.append(wcase(2,16,6,6,16,3,3,(1,1),(1,1),(1,1),2,2,force_general=True))
wres.append(wcase(1,3,9,9,8,3,3,(2,2),(1,1),(1,1),1,2,cl=False))
wbad=0
for ks in range(2):
    for wm in range(2):
        for i in range(2):
            a=[swz((L&7)+((L>>4)<<3),(wm*32+i*16)//8+((L>>3)&1))+ks*16*WROWB for L in range(32)]
            b=[TILEB+swz((L&7)+(((L>>3)&1)<<3),(wm*32+i*16)//8+(L>>4))+ks*16*WROWB for L in range(32)]
            for ph_ in range(4): wbad+=conflicts(a[8*ph_:8*ph_+8])+conflicts(b[8*ph_:8*ph_+8])
for tid0 in range(0,128,8):
    for it in range(2): wbad+=conflicts([swz((t>>3)+it*16,t&7) for t in range(tid0,tid0+8)])
print("wgrad conflict count",wbad)
print("ALL OK" if fwd_ok and all(wres) and wbad == 0 else "SOME FAILED")
