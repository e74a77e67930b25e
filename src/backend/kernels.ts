// The kernel table: every numeric loop the engine runs, as one interface that each backend implements.
// Kernels write into caller-allocated outputs (zero copy) and never allocate tensors themselves.

/** Geometry of a 2-D convolution over NCHW input x [N, C, H, W] and weight w [OC, C/groups, KH, KW]. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  oc: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  groups: number;
}

/** Geometry of a pooling window over x [N, C, H, W] giving [N, C, OH, OW]. */
export interface PoolGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
}

export interface Kernels {
  readonly name: string;
  /** Inference kernels on blocked activations, where the backend has them (the native one does). */
  readonly blocked?: BlockedKernels;

  /** Row-major C[M,N] = alpha·op(A)·op(B) + beta·C; beta 0 overwrites C. */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;

  /** y [N,OC,OH,OW] = conv(x, w) + bias. */
  conv2d(g: ConvGeometry, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array): void;
  /**
   * The inference block: y = act(conv(x, w) + bias + residual), act = ReLU when `relu`, else the identity; bias
   * [OC] and residual [N,OC,OH,OW] optional. With eval-mode BN folded into w and bias, one call runs conv→BN(→add)(→ReLU).
   * The residual may be y itself (the output written over the block's input), but must not otherwise overlap it.
   */
  conv2dFused(
    g: ConvGeometry,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    residual: Float32Array | null,
    relu: boolean,
    y: Float32Array,
  ): void;
  /**
   * w [OC,C/groups,KH,KW] rearranged for conv2dFusedPacked, for weights run many times (inference): the backend's own
   * layout, chosen for g's batch and input size but valid for any other with the same OC, C, KH, KW and groups. The
   * js backend keeps w as it is.
   */
  packConv2dWeight(g: ConvGeometry, w: Float32Array): Float32Array;
  /**
   * The name of the layout packConv2dWeight(g, w) makes ('plain' in the js backend; the native one's depend on the
   * batch: resnet50's layer4 3×3 gets 'winograd-f4' at batch 8 and 'winograd-f2' at batch 1), for callers that keep one
   * packing per layout.
   */
  conv2dPackedLayout(g: ConvGeometry): string;
  /** conv2dFused with weights from this backend's packConv2dWeight. */
  conv2dFusedPacked(
    g: ConvGeometry,
    x: Float32Array,
    packedW: Float32Array,
    bias: Float32Array | null,
    residual: Float32Array | null,
    relu: boolean,
    y: Float32Array,
  ): void;
  /**
   * The gradients of conv2d for dy, each skipped when null: dx [N,C,H,W] w.r.t. x, overwritten or with `accumulate`
   * added to what dx holds (a tensor used twice sums its gradients, with no separate add), and dw [OC,C/groups,KH,KW]
   * w.r.t. w, overwritten. One call for both, so that a backend can share work between them.
   */
  conv2dBackward(
    g: ConvGeometry,
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    dx: Float32Array | null,
    accumulate: boolean,
    dw: Float32Array | null,
  ): void;

  /**
   * Training-mode batch norm over x [N,C,HW]: writes y and, per channel, the batch mean, biased variance and
   * 1/√(var + eps). With `relu`, y = relu(batch norm(x)) in the same pass (NaN stays NaN, as in relu). With
   * `residual`, y = batch norm(x) + residual, then the ReLU: a residual block's end in one pass, each output
   * rounded as batch norm, add and relu apart would round it. y must not be x or residual.
   */
  batchNormTrain(
    n: number,
    c: number,
    hw: number,
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    eps: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    invStd: Float32Array,
    relu: boolean,
    residual: Float32Array | null,
  ): void;
  /**
   * y = (x − mean)·invStd·gamma + beta with given per-channel statistics (eval mode), plus `residual` when given,
   * then ReLU with `relu`.
   */
  batchNormApply(
    n: number,
    c: number,
    hw: number,
    x: Float32Array,
    mean: Float32Array,
    invStd: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    y: Float32Array,
    relu: boolean,
    residual: Float32Array | null,
  ): void;
  /**
   * Gradients of batch norm. With `batchStats` the mean and invStd came from this batch (training), so dx
   * includes their dependence on x; otherwise they were constants (eval). dgamma/dbeta are overwritten.
   * With `reluAfter`, dy is the gradient of a ReLU applied to the output: it passes only where the output that
   * batchNormTrain/batchNormApply computed from these statistics, gamma and beta is positive (or NaN), as
   * reluBackward's does, which the kernel finds by recomputing the output from x. dx may be dy itself (each
   * channel's sums are taken before its dx is written): the training step's largest layers then need one buffer
   * fewer.
   */
  batchNormBackward(
    n: number,
    c: number,
    hw: number,
    dy: Float32Array,
    x: Float32Array,
    mean: Float32Array,
    invStd: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    batchStats: boolean,
    reluAfter: boolean,
    dx: Float32Array | null,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
  ): void;

  relu(x: Float32Array, y: Float32Array): void;
  /** dx = dy where y > 0, else 0. */
  reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void;

  /** y = a + b, elementwise; y may be a or b (gradients are summed in place). */
  add(a: Float32Array, b: Float32Array, y: Float32Array): void;
  /** y = relu(a + b) in one pass (a residual block's end); y may be a or b. NaN stays NaN. */
  addRelu(a: Float32Array, b: Float32Array, y: Float32Array): void;

  /**
   * Max pooling; `indices` gets each output's flat index into its input plane (H·W), as PyTorch returns. With
   * indices null (inference), the values only: NaN wins as with indices, but a window holding both +0 and −0 may
   * give either.
   */
  maxPool2d(g: PoolGeometry, x: Float32Array, y: Float32Array, indices: Int32Array | null): void;
  /** dx (overwritten) receives dy at each recorded index. */
  maxPool2dBackward(g: PoolGeometry, dy: Float32Array, indices: Int32Array, dx: Float32Array): void;

  /** Adaptive average pooling of x [N·C, H, W] to [N·C, OH, OW] with PyTorch's window rule. */
  adaptiveAvgPool2d(nc: number, h: number, w: number, oh: number, ow: number, x: Float32Array, y: Float32Array): void;
  adaptiveAvgPool2dBackward(
    nc: number,
    h: number,
    w: number,
    oh: number,
    ow: number,
    dy: Float32Array,
    dx: Float32Array,
  ): void;

  /**
   * The option-A shortcut of the CIFAR ResNets: x [N, C, H, W] subsampled by `stride` (rows and columns 0, s, 2s…)
   * into the middle channels of y [N, C + 2·padChannels, ⌈H/s⌉, ⌈W/s⌉], whose other channels are 0.
   */
  shortcutA(
    n: number,
    c: number,
    h: number,
    w: number,
    stride: number,
    padChannels: number,
    x: Float32Array,
    y: Float32Array,
  ): void;
  /** Its gradient: dx (overwritten) is dy's middle channels at the kept positions, 0 elsewhere. */
  shortcutABackward(
    n: number,
    c: number,
    h: number,
    w: number,
    stride: number,
    padChannels: number,
    dy: Float32Array,
    dx: Float32Array,
  ): void;

  /** Row-wise log-softmax of x [rows, cols]. */
  logSoftmax(rows: number, cols: number, x: Float32Array, y: Float32Array): void;

  /**
   * One torch.optim.SGD step on one parameter, in place: d = grad + weightDecay·param; with momentum ≠ 0,
   * buf = firstStep ? d : momentum·buf + (1 − dampening)·d and d = nesterov ? d + momentum·buf : buf; then
   * param −= lr·d. momentumBuf may be null when momentum is 0.
   */
  sgdUpdate(
    param: Float32Array,
    grad: Float32Array,
    momentumBuf: Float32Array | null,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    firstStep: boolean,
  ): void;
  /**
   * One torch.optim.AdamW step on one parameter, in place (step counts from 1): param ·= 1 − lr·weightDecay;
   * m = β₁m + (1 − β₁)g; v = β₂v + (1 − β₂)g²; param −= lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps).
   */
  adamwUpdate(
    param: Float32Array,
    grad: Float32Array,
    expAvg: Float32Array,
    expAvgSq: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
}

/**
 * Eval-mode kernels on blocked activations, [N, C/16, H, W, 16] ("nchw16c": channel c of pixel (y, x) at
 * ((n·C/16 + c/16)·H + y)·W + x)·16 + c % 16), for compileForInference. In that layout a 1×1 convolution reads its
 * input where it lies, with nothing packed per call, and Winograd's transforms run over 16 channels at once.
 */
export interface BlockedKernels {
  /** 'winograd' or 'direct': how blockedConv runs g; null when g cannot run blocked (groups, dilation, channels). */
  convLayout(g: ConvGeometry): string | null;
  /** w [OC, C, KH, KW] in the layout convLayout(g) names, for conv. */
  packConv(g: ConvGeometry, w: Float32Array): Float32Array;
  /** y = act(conv(x) + bias + residual) with packConv's weights; x, y and residual (which may be y) blocked. */
  conv: Kernels['conv2dFusedPacked'];
  /** NCHW x [N, C, H, W] into blocked y (C a multiple of 16). */
  toBlocked(n: number, c: number, h: number, w: number, x: Float32Array, y: Float32Array): void;
  /** maxPool2d's values (no indices) of NCHW x into blocked y (C a multiple of 16). */
  maxPool2d(g: PoolGeometry, x: Float32Array, y: Float32Array): void;
  /** Blocked x into NCHW y. */
  fromBlocked(n: number, c: number, h: number, w: number, x: Float32Array, y: Float32Array): void;
  /** Blocked x [N, C, H, W] → y [N, C], each plane's mean. */
  globalAvgPool(n: number, c: number, h: number, w: number, x: Float32Array, y: Float32Array): void;
}
